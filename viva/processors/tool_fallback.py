"""The tool-extraction fallback: a schema-valid result even when the model spoke it instead.

Told to call a function silently, the model sometimes reads the result aloud instead,
or does both (field-reports.md §2). A call always wins (ResultCollector keeps the first
valid one). `ToolFallback` keeps the examiner's own output transcript (never the
candidate's words) and, when the exam ends without a valid call, extracts each missing
required tool's arguments from it: first by a text model request constrained to the
tool's schema (`model_extract`, injected; its answer counts only if the marks the
parser heard are in it, since a schema with required fields lets a model fill them in
when nothing was said), else with the deterministic parser, and keeps only what
validates against the tool's full JSON schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from viva.schema import schema_errors
from viva.config import ToolSpec
from viva.results import ResultCollector
from viva.transcript_parser import parse_result

ModelExtract = Callable[[str, ToolSpec], Awaitable[dict | None]]


@dataclass(frozen=True)
class Extraction:
    tool: str
    method: str  # "model" or "parser"
    arguments: dict[str, Any] | None
    errors: list[str]

    @property
    def valid(self) -> bool:
        return self.arguments is not None and not self.errors


class ToolFallback:
    """The examiner's transcript, and the results it holds when the calls never came.

    Args:
        results: the session's ResultCollector (its valid calls win).
        model_extract: async (transcript, tool) -> arguments or None; None: parser only.
    """

    def __init__(self, results: ResultCollector, *, model_extract: ModelExtract | None = None):
        self._results = results
        self._model_extract = model_extract
        self.transcript = ""

    def on_examiner_text(self, text: str) -> None:
        self.transcript += text

    @property
    def missing(self) -> list[ToolSpec]:
        return [tool for tool in self._results.tools if tool.required and tool.name not in self._results.results]

    def spoken(self) -> bool:
        """Whether the transcript already holds a valid result for every missing tool (parser only)."""
        missing = self.missing
        return bool(missing) and all(self._check(tool, parse_result(self.transcript, tool.parameters), "parser").valid
                                     for tool in missing)

    async def extract(self) -> list[Extraction]:
        """Tries each missing required tool (model, then parser); valid ones go into the results."""
        attempts = []
        for tool in self.missing:
            tried = []
            parsed = parse_result(self.transcript, tool.parameters)
            if self._model_extract is not None:
                answer = await self._model_extract(self.transcript, tool)
                attempt = self._check(tool, answer, "model")
                if attempt.valid and not _grounded(answer, parsed):
                    attempt = Extraction(tool.name, "model", answer, ["not in the transcript: the marks the model "
                                                                      "gave are not the ones said"])
                tried.append(attempt)
            if not tried or not tried[-1].valid:
                tried.append(self._check(tool, parsed, "parser"))
            attempts += tried
            if tried[-1].valid:
                self._results.results[tool.name] = tried[-1].arguments
        return attempts

    @staticmethod
    def _check(tool: ToolSpec, arguments: dict | None, method: str) -> Extraction:
        if not isinstance(arguments, dict) or not arguments:
            return Extraction(tool.name, method, None, ["nothing found"])
        return Extraction(tool.name, method, arguments, schema_errors(tool.parameters, arguments))


def _grounded(answer: dict, parsed: dict | None) -> bool:
    """Whether a model's extraction holds what was said: a model constrained to a schema
    with required fields may fill them in when nothing was said. The numbers the parser
    heard must be there, and at least one must have been heard."""
    numbers = {key: value for key, value in (parsed or {}).items() if isinstance(value, (int, float))}
    return bool(numbers) and all(answer.get(key) == value for key, value in numbers.items())
