"""The JSON Schema of a config file, generated from the pydantic models that validate it.

`viva schema` prints it; docs/viva-config.schema.json is that output, committed, so that an
editor's YAML language server checks a config as it is typed (each shipped config names the
schema in its first line). It describes one file as written:

- `pipeline:` entries are the registry's stages, each `stage: NAME` with that stage's
  parameters (viva/pipelines/registry.py);
- a file that `extends:` another may leave out any key the other gives: with `extends`, no
  key is required in a mapping reached through mappings only (a list replaces the base's
  whole, so what is in a list stays complete).

What only code can check (a part that leads nowhere, a tool's parameters being a JSON
Schema, a stage checked against the exam, the merged file) is left to `viva validate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from viva.config import StageSpec, VivaConfig
from viva.input_files import EXTENDS
from viva.pipelines.registry import STAGES, Stage

# Where the generated schema is committed, relative to the repository's root.
SCHEMA_FILE = Path("docs/viva-config.schema.json")
REGENERATE = f"uv run viva schema > {SCHEMA_FILE}"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _stage_entry(name: str, stage: Stage) -> type[BaseModel]:
    """A `pipeline:` entry naming this stage: `stage: NAME` and the stage's own parameters."""
    title = "".join(word.capitalize() for word in name.split("_")) + "Stage"
    return create_model(title, __base__=stage.params, __doc__=f"`{name}`: {stage.summary}.",
                        stage=(Literal[name], Field(description="the stage's name in the registry")))


StageEntry = Annotated[Union[tuple(_stage_entry(name, stage) for name, stage in STAGES.items())],
                       Field(discriminator="stage")]


def _without_default(schema: dict[str, Any]) -> None:
    # None stands for a key left out; what may be written is a path.
    schema.pop("default", None)


class ConfigFile(VivaConfig):
    """A viva config file, as written (schema only: configs are read by viva.config.load_config)."""

    extends: str | SkipJsonSchema[None] = Field(
        default=None, description="another config this file starts from (a path relative to this file): "
        "mappings merge key by key, lists are replaced", json_schema_extra=_without_default)
    pipeline: list[StageEntry] = Field(default_factory=VivaConfig.model_fields["pipeline"].default_factory,
                                       description=VivaConfig.model_fields["pipeline"].description)
    # Set by viva when it loads a file, never written in one.
    path: SkipJsonSchema[Path | None] = Field(default=None, exclude=True)
    stages: SkipJsonSchema[list[StageSpec]] = Field(default_factory=list, exclude=True)


def config_schema() -> dict[str, Any]:
    """The schema of a config file."""
    schema = ConfigFile.model_json_schema()
    schema = {"$schema": DIALECT, **schema, "title": "viva config",
              "description": "One exam format: the exam, the model, the session's limits and the pipeline "
              "(README, Configs). Checked in full by `viva validate`."}
    return _extends_leaves_keys_out(schema)


def schema_text() -> str:
    """The schema as `viva schema` prints it and docs/viva-config.schema.json holds it."""
    return json.dumps(config_schema(), indent=2) + "\n"


def _extends_leaves_keys_out(schema: dict[str, Any]) -> dict[str, Any]:
    """Without `extends`, the top-level keys take their full schemas; with it, schemas that
    require no key (any may come from the base). Only the keys whose schemas differ are
    moved into the if/then/else, so that a mistake both would report is reported once."""
    defs, properties = schema["$defs"], schema["properties"]
    partial = {name: _partial(defs, prop) for name, prop in properties.items()}
    differ = [name for name in properties if partial[name] != properties[name]]
    schema["properties"] = {name: ({"description": prop["description"]} if "description" in prop else {})
                            if name in differ else prop for name, prop in properties.items()}
    schema["if"] = {"required": [EXTENDS]}
    schema["then"] = {"properties": {name: partial[name] for name in differ}}
    schema["else"] = {"required": schema.pop("required", []),
                      "properties": {name: properties[name] for name in differ}}
    return schema


def _partial(defs: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with no key required in the models it reaches through mappings only (a model's
    copy without `required` is added to defs as NamePartial)."""
    if "anyOf" in schema:
        return {**schema, "anyOf": [_partial(defs, option) for option in schema["anyOf"]]}
    if "$ref" not in schema:
        return schema  # a list or a value: an extending file gives it whole
    name = schema["$ref"].rpartition("/")[2]
    model = defs[name]
    copy = {key: value for key, value in model.items() if key != "required"}
    if "properties" in model:
        copy["properties"] = {key: _partial(defs, prop) for key, prop in model["properties"].items()}
    if copy == model:
        return schema
    defs[f"{name}Partial"] = copy
    return {**schema, "$ref": f"#/$defs/{name}Partial"}
