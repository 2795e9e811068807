"""Arguments for a declared function that its schema accepts, as a well-behaved model would send.

Declarations arrive either as Gemini's Schema (OpenAPI 3.0 subset, upper-case types)
or as plain JSON Schema; both are turned into JSON Schema and checked with jsonschema.
"""

from __future__ import annotations

import random
from typing import Any

import jsonschema
from google.genai import types

_GEMINI_ONLY_KEYS = {"propertyOrdering", "property_ordering", "example", "nullable"}


def declared_json_schema(declaration: types.FunctionDeclaration) -> dict:
    """The JSON Schema of a declaration's parameters (empty object schema if none)."""
    if declaration.parameters_json_schema is not None:
        return declaration.parameters_json_schema
    if declaration.parameters is None:
        return {"type": "object", "properties": {}}
    return _from_gemini(declaration.parameters.model_dump(exclude_none=True, by_alias=True))


def _from_gemini(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_from_gemini(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {}
    for key, value in schema.items():
        if key in _GEMINI_ONLY_KEYS:
            continue
        if key == "type":
            result["type"] = str(getattr(value, "value", value)).lower()
        elif key == "properties":
            result["properties"] = {name: _from_gemini(prop) for name, prop in value.items()}
        else:
            result[key] = _from_gemini(value)
    if schema.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def schema_errors(schema: dict, value: Any) -> list[str]:
    """Every way value breaks schema, as short readable lines (empty when valid)."""
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ]


# What a string field says (a mark's evidence) where the caller gives no words of the session's language.
OBSERVATION = "Observed consistently across the candidate's answers."


def example_arguments(schema: dict, rng: random.Random, *, text: str = OBSERVATION) -> Any:
    """A value valid against schema, with seeded choices where the schema leaves room; text is
    what a string says."""
    if "anyOf" in schema or "oneOf" in schema:
        return example_arguments((schema.get("anyOf") or schema.get("oneOf"))[0], rng, text=text)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {
            name: example_arguments(prop, rng, text=text) for name, prop in schema.get("properties", {}).items()
        }
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        count = min(count, schema.get("maxItems", count))
        return [example_arguments(schema.get("items", {}), rng, text=text) for _ in range(count)]
    if kind in ("number", "integer"):
        return _example_number(schema, rng, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _example_string(schema, text or OBSERVATION)


def _example_number(schema: dict, rng: random.Random, *, integer: bool) -> float | int:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 10))
    step = schema.get("multipleOf", 1 if integer else 0.5)
    candidates = [
        round(k * step, 6)
        for k in range(int(low // step), int(high // step) + 2)
        if low <= k * step <= high
        and k * step != schema.get("exclusiveMinimum")
        and k * step != schema.get("exclusiveMaximum")
    ]
    # Favour the upper middle of the range, where a typical candidate's marks fall.
    upper_middle = [c for c in candidates if c >= low + (high - low) * 0.5] or candidates
    value = rng.choice(upper_middle[: max(1, len(upper_middle) // 2)]) if candidates else low
    return int(value) if integer else value


def _example_string(schema: dict, text: str) -> str:
    minimum = schema.get("minLength", 0)
    while len(text) < minimum:
        text += " " + text
    return text[: schema.get("maxLength", len(text))]


def merged_arguments(drawn: Any, forced: Any) -> Any:
    """forced over drawn: objects merge key by key (at any depth), any other value replaces."""
    if isinstance(drawn, dict) and isinstance(forced, dict):
        merged = dict(drawn)
        for key, value in forced.items():
            merged[key] = merged_arguments(drawn[key], value) if key in drawn else value
        return merged
    return forced
