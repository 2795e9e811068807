"""Pipecat's GeminiLiveLLMService as the config asks for it, with the exam's tools answered."""

from __future__ import annotations

from google.genai.types import ThinkingConfig, ThinkingLevel
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService, GeminiVADParams

from pipelines.context import StageContext
from viva.tools import declarable_schema


def gemini_live_service(context: StageContext) -> GeminiLiveLLMService:
    """The Live service with client-side activity detection (automatic detection off)."""
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
    service = GeminiLiveLLMService(
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
        service.register_function(tool.name, _handler(context))
    return service


def _handler(context: StageContext):
    async def answer(params):
        response = context.results.on_tool_call(params.function_name, dict(params.arguments))
        if context.results.complete and context.record.data["result"] is None:
            context.record.set_result(context.results.result(), "tool_call")
        await params.result_callback(response)

    return answer
