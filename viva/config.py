"""viva's config format: one YAML file per exam format.

This module holds the exam part (what an examiner, real or emulated, needs to run
the exam) and the model settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, field_validator

from viva.yamlfile import load_model


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CueCard(Strict):
    """IELTS Part 2 style task card: a topic and the points to cover."""

    topic: str
    points: list[str] = Field(default_factory=list)

    def spoken(self) -> str:
        """The card as the examiner reads it out."""
        if not self.points:
            return f"Your topic is: {self.topic}"
        return f"Your topic is: {self.topic} You should say: {'; '.join(self.points)}."


class ExamPart(Strict):
    """One part of the exam, asked in order."""

    name: str
    intro: str | None = None
    cue_card: CueCard | None = None
    prep_s: float = Field(default=0, ge=0, description="silent preparation after the cue card")
    long_turn_s: float | None = Field(default=None, gt=0, description="time allowed for the long turn")
    questions: list[str] = Field(default_factory=list)
    duration_min: tuple[float, float] | None = Field(default=None, description="planned minutes, low and high")


class ToolSpec(Strict):
    """A function the examiner model must call to hand in the result."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str
    parameters: dict[str, Any]
    required: bool = True

    @field_validator("parameters")
    @classmethod
    def _is_json_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as e:
            raise ValueError(f"not a valid JSON schema: {e.message}") from None
        if value.get("type") != "object":
            raise ValueError("a tool's parameters must be a JSON schema of type object")
        return value


class ExamConfig(Strict):
    """The exam as the examiner runs it."""

    name: str
    greeting: str
    system_prompt: str
    parts: list[ExamPart] = Field(min_length=1)
    closing_phrase: str
    tools: list[ToolSpec] = Field(default_factory=list)

    @property
    def required_tools(self) -> list[ToolSpec]:
        return [tool for tool in self.tools if tool.required]


class LLMConfig(Strict):
    """The Live model and how it is asked to behave."""

    model: str = "gemini-3.1-flash-live-preview"
    thinking_level: str | None = Field(default="minimal", pattern="^(minimal|low|medium|high)$")
    voice: str = "Charon"
    language: str = "en-GB"


class VivaConfig(Strict):
    """A whole viva config file."""

    exam: ExamConfig
    llm: LLMConfig = Field(default_factory=LLMConfig)


def load_config(path: str | Path) -> VivaConfig:
    """Reads and validates a config; BadInput (one line, exit 2) on any problem."""
    return load_model(Path(path), VivaConfig)
