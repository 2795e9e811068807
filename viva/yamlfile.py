"""YAML files validated into pydantic models, with errors that point at file, line and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from viva.errors import BadInput

Model = TypeVar("Model", bound=pydantic.BaseModel)


def _line_index(node: yaml.Node, path: tuple = (), index: dict | None = None) -> dict[tuple, int]:
    """Maps every key path in a composed YAML tree to its 1-based line."""
    index = {} if index is None else index
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, key_node.value)
            index[key_path] = key_node.start_mark.line + 1
            _line_index(value_node, key_path, index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), index)
    return index


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """The file's data and its line index; BadInput for a missing file or broken YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read: {e}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BadInput(f"{path}{line}: invalid YAML: {problem}") from None
    return data, (_line_index(node) if node is not None else {})


def format_key_path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_validation_error(
    path: Path, error: pydantic.ValidationError, lines: dict[tuple, int], model: type
) -> str:
    """One line for the first problem: file:line: key.path: what was expected."""
    first = error.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    line = None
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            line = lines[loc[:end]]
            break
    where = f"{path}:{line}" if line else str(path)
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        expected = f"; expected one of: {', '.join(parent.model_fields)}" if parent else ""
        return f"{where}: {format_key_path(loc)}: unknown key{expected}"
    if first["type"] == "missing":
        return f"{where}: {format_key_path(loc)}: required key is missing"
    return f"{where}: {format_key_path(loc)}: {first['msg']}"


def _model_at(model: type, loc: tuple) -> type | None:
    """The pydantic model class found at loc, following field annotations."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
            continue
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) is not list and len(args) == 1:
            current = args[0]
    if typing.get_origin(current) is list:
        current = typing.get_args(current)[0]
    return current if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else None


def load_model(path: Path, model: type[Model]) -> Model:
    """Reads a YAML file into model; BadInput naming file, line and key path on any problem."""
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise BadInput(f"{path}:1: expected a mapping of keys at the top level")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        raise BadInput(describe_validation_error(path, e, lines, model)) from None
