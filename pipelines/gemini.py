"""Pipecat's GeminiLiveLLMService as the config asks for it, with the exam's tools answered."""

from __future__ import annotations

from google.genai.types import ThinkingConfig, ThinkingLevel
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService, GeminiVADParams

from pipelines.context import StageContext
from processors.stall_watchdog import ReconnectRequestFrame
from viva.tools import declarable_schema


class ExamGeminiLiveService(GeminiLiveLLMService):
    """Pipecat's Live service, which also reconnects when a guard asks (ReconnectRequestFrame).

    Pipecat reconnects only on its own errors; the stall watchdog's last resort needs the
    same reconnect (by the last resumption handle) on request. `_reconnect` is Pipecat's.
    """

    async def process_frame(self, frame, direction):
        if isinstance(frame, ReconnectRequestFrame):
            await FrameProcessor.process_frame(self, frame, direction)
            await self._reconnect()
            return
        await super().process_frame(frame, direction)


def gemini_live_service(context: StageContext, *, end_on_tool_result: bool = False) -> GeminiLiveLLMService:
    """The Live service with client-side activity detection (automatic detection off).

    end_on_tool_result: finish the way a Pipecat app does when the result is in: push
    EndWorkerFrame; the service defers the EndFrame until the examiner's turn is over.
    """
    config = context.config
    schemas = []
    for tool in config.exam.tools:
        parameters = declarable_schema(tool.parameters)
        schemas.append(FunctionSchema(
            name=tool.name, description=tool.description,
            properties=parameters.get("properties", {}), required=parameters.get("required", []),
        ))
    thinking = (
        ThinkingConfig(thinking_level=ThinkingLevel(config.llm.thinking_level.upper()))
        if config.llm.thinking_level else None
    )
    service = ExamGeminiLiveService(
        api_key=context.llm.api_key,
        http_options=context.llm.http_options,
        system_instruction=config.exam.system_prompt,
        tools=ToolsSchema(standard_tools=schemas) if schemas else None,
        settings=GeminiLiveLLMService.Settings(
            model=config.llm.model,
            voice=config.llm.voice,
            language=config.llm.language,
            vad=GeminiVADParams(disabled=True),
            thinking=thinking or {},
        ),
    )
    for tool in config.exam.tools:
        service.register_function(tool.name, _handler(context, end_on_tool_result))
    return service


def _handler(context: StageContext, end_on_tool_result: bool):
    async def answer(params):
        response = context.results.on_tool_call(params.function_name, dict(params.arguments))
        newly_complete = context.results.complete and context.record.data["result"] is None
        if newly_complete:
            context.record.set_result(context.results.result(), "tool_call")
        await params.result_callback(response)
        if newly_complete and end_on_tool_result:
            context.record.end(outcome="completed", end_reason="tool_result")
            await params.llm.push_frame(EndWorkerFrame(reason="result recorded"), FrameDirection.UPSTREAM)

    return answer
