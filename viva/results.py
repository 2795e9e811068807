"""The exam's result: tool calls checked against the exam config's full JSON schemas."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from viva.schema import schema_errors
from viva.config import ToolSpec


@dataclass
class ResultCollector:
    """Answers the model's tool calls and keeps the first valid result of each required tool.

    Args:
        tools: the exam's tools.
        on_event: called with ("tool_call" | "tool_result", fields).
        validate: check arguments against the schema (False: take them as they come,
            as a plain Pipecat handler does; the baseline).
    """

    tools: list[ToolSpec]
    validate: bool = True
    on_event: Callable[..., None] = lambda *args, **fields: None
    max_invalid: int = 3  # invalid calls answered with their errors; after that, only told to stop
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0
    invalid: int = 0

    def on_tool_call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The response to send back for one call."""
        self.calls += 1
        spec = next((tool for tool in self.tools if tool.name == name), None)
        if spec is None:
            self.on_event("tool_call", name=name, valid=False)
            return {"error": f"unknown function {name}"}
        errors = schema_errors(spec.parameters, arguments)
        self.on_event("tool_call", name=name, valid=not errors, errors=errors[:5])
        if errors and self.validate:
            self.invalid += 1
            if self.invalid > self.max_invalid:
                return {"error": "invalid arguments again; do not call this function again"}
            return {"error": "invalid arguments: " + "; ".join(errors[:5])}
        if name in self.results:
            self.on_event("tool_result", name=name, duplicate=True)
            return {"status": "already recorded"}
        self.results[name] = arguments
        self.on_event("tool_result", name=name)
        return {"status": "recorded"}

    def marks(self) -> dict[str, Any]:
        """Every mark the result functions were given, by name, whichever function took it (the
        exam's scores name marks, not functions: viva validate checks they are the tools' properties).
        Where two functions give one name, the one declared first counts."""
        marks: dict[str, Any] = {}
        for tool in self.tools:
            for mark, value in self.results.get(tool.name, {}).items():
                marks.setdefault(mark, value)
        return marks

    @property
    def complete(self) -> bool:
        return all(tool.name in self.results for tool in self.tools if tool.required)

    def result(self) -> dict[str, Any] | None:
        """The exam's result: the single required tool's arguments, or each tool's by name."""
        required = [tool.name for tool in self.tools if tool.required]
        if not self.complete or not required:
            return None
        if len(required) == 1:
            return self.results[required[0]]
        return {name: self.results[name] for name in required}
