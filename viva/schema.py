"""How a result breaks its function's JSON Schema, in lines a person (or the model) can act on."""

from __future__ import annotations

from typing import Any

import jsonschema


def schema_errors(schema: dict, value: Any) -> list[str]:
    """Every way value breaks schema, as short readable lines (empty when valid)."""
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ]
