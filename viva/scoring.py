"""Derived scores by rule: an overall band, a total, a level, never the model's arithmetic.

The model reports criterion marks through the exam's tool; the config's `exam.scores`
names how viva derives anything else from them:

    scores:
      - name: speaking_band      # the entry's name in the record's `scores`
        label: Speaking band     # what the report shows (default: the name)
        rule: mean               # mean | sum | ordinal | lookup
        of: [fluency_coherence, lexical_resource]   # marks, or scores defined earlier
        rounding: floor_half     # mean only: half_band_up | floor_half | nearest | none
        official: false          # does the exam owner publish this rule?
        source: where the rule comes from, or why it is an estimate
      - {name: cefr, rule: lookup, of: [speaking_band], table: [{min: 7, value: C1}, ...], ...}
      - {name: level, rule: ordinal, of: [rating], scale: [Novice Low, ..., Superior], ...}

`compute_scores` is pure: the rules and a result dict in, the record's entries out. A mark
that is missing or unusable gives its entry `value: None` and `missing: [...]`, never an
exception, since a result extracted from a transcript may lack a criterion.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

Rule = Literal["mean", "sum", "ordinal", "lookup"]
Rounding = Literal["half_band_up", "floor_half", "nearest", "none"]


def _round(value: Fraction, rounding: Rounding) -> Fraction:
    if rounding == "half_band_up":  # .25 up to the next half band, .75 up to the next whole band
        return Fraction(math.floor(2 * value + Fraction(1, 2)), 2)
    if rounding == "floor_half":  # down to the half band at or below
        return Fraction(math.floor(2 * value), 2)
    if rounding == "nearest":  # whole number, halves up
        return Fraction(math.floor(value + Fraction(1, 2)))
    return value


class _Rules(BaseModel):
    # Not viva.config.Strict: viva.config imports this module.
    model_config = ConfigDict(extra="forbid")


class TableRow(_Rules):
    min: float = Field(allow_inf_nan=False)
    value: str | int | float


class ScoreRule(_Rules):
    """One derived score and the rule that computes it."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    label: str | None = Field(default=None, description="what the report shows; default: the name")
    rule: Rule
    of: list[str] = Field(min_length=1, description="marks of the exam's tools, or names of earlier scores")
    rounding: Rounding | None = Field(default=None, description="mean only")
    table: list[TableRow] | None = Field(default=None, description="lookup only: the first row whose min <= x")
    scale: list[str] | None = Field(default=None, description="ordinal only: labels, lowest first")
    official: bool = Field(description="whether the exam owner publishes this rule")
    source: str = Field(min_length=1, description="one line: where the rule comes from, or why it is approximate")

    @model_validator(mode="after")
    def _keys_fit_the_rule(self) -> "ScoreRule":
        needs = {"mean": "rounding", "lookup": "table", "ordinal": "scale"}.get(self.rule)
        for key in ("rounding", "table", "scale"):
            given = getattr(self, key) is not None
            if key == needs and not given:
                _fail((), f"rule {self.rule} needs `{key}`")
            if key != needs and given:
                _fail((key,), f"rule {self.rule} takes no `{key}`")
        if self.rule in ("ordinal", "lookup") and len(self.of) != 1:
            _fail(("of",), f"rule {self.rule} takes exactly one name in `of`")
        if len(set(self.of)) != len(self.of):
            _fail(("of",), "a name appears twice")
        if self.table is not None:
            if not self.table:
                _fail(("table",), "needs at least one row")
            mins = [_exact(row.min) for row in self.table]
            if any(a <= b for a, b in zip(mins, mins[1:])):
                _fail(("table",), "rows must go from the highest min down (the first row whose min <= x wins)")
        if self.scale is not None and (not self.scale or len(set(self.scale)) != len(self.scale)):
            _fail(("scale",), "needs distinct labels, lowest first")
        return self

    def rule_text(self) -> str:
        return f"mean, {self.rounding}" if self.rule == "mean" else self.rule

    def gives_number(self) -> bool:
        """Whether this score's value is a number (else a label)."""
        if self.rule == "lookup":
            return all(_is_number(row.value) for row in self.table or [])
        return self.rule in ("mean", "sum")


def _fail(loc: tuple, problem: str) -> None:
    """A validation error at loc below the model being validated (pydantic prefixes the outer path),
    so a mistake is reported at its own key and line."""
    error = PydanticCustomError("score_rule", "{problem}", {"problem": problem})
    raise ValidationError.from_exception_data("scores", [InitErrorDetails(type=error, loc=loc, input=None)])


def check_scores(scores: list[ScoreRule], tools: list[Any]) -> None:
    """Every name in `of` is a property of one of the tools' parameters or an earlier score,
    of the kind the rule needs (numbers for mean/sum/lookup, a label for ordinal)."""
    marks: dict[str, str | None] = {}  # mark -> "number", "label", another JSON type, or None (undeclared)
    for tool in tools:
        for name, schema in (tool.parameters.get("properties") or {}).items():
            declared = schema.get("type") if isinstance(schema, dict) else None
            kind = {"number": "number", "integer": "number", "string": "label"}.get(declared, declared) \
                if isinstance(declared, str) else None  # a list of types: not checked here
            marks.setdefault(name, kind)
    earlier: dict[str, str] = {}
    for i, score in enumerate(scores):
        if score.name in marks:
            _fail(("scores", i, "name"), f"{score.name!r} is already a mark of the exam's tools: name the score apart")
        if score.name in earlier:
            _fail(("scores", i, "name"), f"a score named {score.name!r} is defined earlier")
        wants = "label" if score.rule == "ordinal" else "number"
        for j, name in enumerate(score.of):
            if name not in earlier and name not in marks:
                known = ", ".join([*marks, *earlier]) or "none"
                _fail(("scores", i, "of", j), f"{name!r} is neither a tool's property nor an earlier score; "
                      f"expected one of: {known}")
            kind = earlier.get(name) or marks.get(name)
            if kind is not None and kind != wants:
                _fail(("scores", i, "of", j), f"rule {score.rule} needs a {wants}; {name!r} is "
                      f"{'a number' if kind == 'number' else 'a label' if kind == 'label' else f'of type {kind}'}")
        earlier[score.name] = "number" if score.gives_number() else "label"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _exact(value: int | float) -> Fraction:
    # The decimal the number was written as (6.1 is 61/10, not the binary float nearest it),
    # so a boundary like 6.25 is exactly 6.25.
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def _plain(value: Fraction, *, whole: bool) -> int | float:
    return int(value) if whole and value.denominator == 1 else float(value)


def compute_score(score: ScoreRule, values: dict[str, Any]) -> dict[str, Any]:
    """One record entry: the score's value by its rule from values (marks and earlier scores)."""
    given = {name: values.get(name) for name in score.of}
    entry: dict[str, Any] = {"name": score.name, "label": score.label or score.name, "value": None,
                             "rule": score.rule_text(), "of": given, "official": score.official,
                             "source": score.source}
    if score.rule == "ordinal":
        label = given[score.of[0]]
        if not isinstance(label, str) or label not in (score.scale or []):
            entry["missing"] = list(score.of)
            return entry
        entry["value"], entry["position"] = label, score.scale.index(label) + 1
        return entry
    missing = [name for name, value in given.items() if not _is_number(value)]
    if missing:
        entry["missing"] = missing
        return entry
    numbers = [_exact(value) for value in given.values()]
    if score.rule == "sum":
        entry["value"] = _plain(sum(numbers), whole=all(isinstance(v, int) for v in given.values()))
    elif score.rule == "mean":
        mean = _round(sum(numbers) / len(numbers), score.rounding)
        entry["value"] = _plain(mean, whole=score.rounding == "nearest")
    else:  # lookup: the first row whose min <= x; below every row, no value
        row = next((row for row in score.table if _exact(row.min) <= numbers[0]), None)
        entry["value"] = row.value if row is not None else None
    return entry


def compute_scores(scores: list[ScoreRule], result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The record's `scores`: each rule's entry, in order; [] without a result or rules.
    A score may use an earlier one; the result's own keys are only read."""
    if not isinstance(result, dict):
        return []
    values = dict(result)
    entries = []
    for score in scores:
        entry = compute_score(score, values)
        values[score.name] = entry["value"]
        entries.append(entry)
    return entries
