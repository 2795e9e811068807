"""Writes the field table of the client messages a google-genai SDK can send.

The emulator parses client frames along the pinned SDK's types (emulator/wire.py), but
Pipecat holds that SDK below 3, while clients of the emulator may run newer ones that
send fields the pinned types lack (3.6 sends `proactivity.proactiveVideo`). This table,
made from the newest SDK, tells the parser which names exist there. Run it under that
SDK, with nothing else of the project imported:

    uv run --no-project --with google-genai==3.6.1 python scripts/sdk_fields.py > emulator/sdk_fields.json
"""

from __future__ import annotations

import json
import sys
import types as pytypes
import typing

import pydantic
from google import genai
from google.genai import types


def _unwrap(annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, pytypes.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in args if _is_model(_unwrap(a))]
        if len(args) == 1 or models:
            return _unwrap((models or args)[0])
    return annotation


def _is_model(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _kind(annotation, queue: list) -> str:
    """'Name', 'list Name', 'map Name' for nested messages; 'value' for anything else."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if _is_model(annotation):
        queue.append(annotation)
        return annotation.__name__
    if origin is list:
        (item,) = typing.get_args(annotation) or (typing.Any,)
        item = _unwrap(item)
        if _is_model(item):
            queue.append(item)
            return f"list {item.__name__}"
    if origin is dict:
        args = typing.get_args(annotation)
        item = _unwrap(args[1]) if len(args) == 2 else None
        if _is_model(item):
            queue.append(item)
            return f"map {item.__name__}"
    return "value"


# Fields a client sends that the SDK's own message types annotate loosely.
_OVERRIDES = {
    ("LiveClientSetup", "tools"): list[types.Tool],
}
_EXTRA_FIELDS = {
    # The SDK's converter puts realtimeInputConfig into every setup built from a
    # LiveConnectConfig, though LiveClientSetup does not declare it.
    "LiveClientSetup": {"realtime_input_config": types.RealtimeInputConfig},
}


def field_table() -> dict:
    table: dict[str, dict[str, str]] = {}
    queue: list[type] = [types.LiveClientMessage]
    while queue:
        model = queue.pop()
        name = model.__name__
        if name in table:
            continue
        fields = {field: info.annotation for field, info in model.model_fields.items()}
        fields.update(_EXTRA_FIELDS.get(name, {}))
        table[name] = {
            field: _kind(_OVERRIDES.get((name, field), annotation), queue)
            for field, annotation in sorted(fields.items())
        }
    return {"sdk": genai.__version__, "root": "LiveClientMessage", "types": dict(sorted(table.items()))}


if __name__ == "__main__":
    json.dump(field_table(), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
