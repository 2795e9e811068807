"""Tool declarations for the Live API.

Gemini's function-declaration schema is an OpenAPI 3.0 subset: it has no `multipleOf`,
`exclusiveMinimum`, `const` and so on, and google-genai rejects a declaration that
carries them before anything is sent. The exam config keeps the whole JSON schema
(viva validates results against it); the model is declared the subset, with each
dropped constraint said in words in the property's description so the model still
knows it.
"""

from __future__ import annotations

from typing import Any

from google.genai import types

_ALLOWED = {types.Schema.model_fields[name].alias or name for name in types.Schema.model_fields}
_ALLOWED |= set(types.Schema.model_fields)


def declarable_schema(schema: Any) -> Any:
    """The part of a JSON schema that a Gemini function declaration accepts."""
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    dropped = []
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            result[key] = {name: declarable_schema(prop) for name, prop in value.items()}
        elif key in ("items",) or key in ("anyOf", "any_of"):
            result[key] = [declarable_schema(v) for v in value] if isinstance(value, list) else declarable_schema(value)
        elif key in _ALLOWED:
            result[key] = value
        else:
            dropped.append(f"{key} {value}")
    if dropped:
        note = "(" + "; ".join(dropped) + ")"
        result["description"] = f"{result.get('description', '')} {note}".strip()
    return result
