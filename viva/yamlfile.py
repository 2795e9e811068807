"""YAML files validated into pydantic models, with errors that point at file, line and key.

A file may start from another with `extends: other.yaml` (relative to the file):
mappings are merged key by key, everything else (lists, values) is replaced. An error
names the file and line where the offending key was written, whichever file that is.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from viva.errors import BadInput

Model = TypeVar("Model", bound=pydantic.BaseModel)
EXTENDS = "extends"


class Places:
    """Where each key path of a (merged) document was written: file and line."""

    def __init__(self, root: Path):
        self.root = root
        self._at: dict[tuple, tuple[Path, int]] = {}

    def add(self, path: Path, node: yaml.Node | None, prefix: tuple = ()) -> None:
        """Indexes a composed YAML tree; later files override earlier ones."""
        if node is None:
            return
        self._at[prefix] = (path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_path = (*prefix, key_node.value)
                self.add(path, value_node, key_path)
                self._at[key_path] = (path, key_node.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.add(path, item, (*prefix, i))

    def where(self, loc: tuple) -> str:
        """`file:line` of the longest written prefix of loc."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self._at:
                path, line = self._at[loc[:end]]
                return f"{path}:{line}"
        return str(self.root)


def _read(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read: {e}") from None
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BadInput(f"{path}{line}: invalid YAML: {problem}") from None


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else in override replaces base."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def read_document(path: Path, _chain: tuple[Path, ...] = ()) -> tuple[dict, Places]:
    """The file's data with its `extends:` chain merged in, and where each key was written."""
    data, node = _read(path)
    if not isinstance(data, dict):
        raise BadInput(f"{path}:1: expected a mapping of keys at the top level")
    places = Places(path)
    parent = data.pop(EXTENDS, None)
    if parent is not None:
        if not isinstance(parent, str):
            raise BadInput(f"{_line(path, node, EXTENDS)}: {EXTENDS}: expected the path of another config file")
        parent_path = (path.parent / parent).resolve()
        if parent_path in _chain or parent_path == path.resolve():
            raise BadInput(f"{_line(path, node, EXTENDS)}: {EXTENDS}: {parent} extends itself in a loop")
        if not parent_path.exists():
            raise BadInput(f"{_line(path, node, EXTENDS)}: {EXTENDS}: {parent}: no such file")
        base, base_places = read_document(parent_path, (*_chain, path.resolve()))
        data = deep_merge(base, data)
        places._at.update(base_places._at)
    places.add(path, node)
    return data, places


def _line(path: Path, node: yaml.Node, key: str) -> str:
    for key_node, _ in getattr(node, "value", []):
        if key_node.value == key:
            return f"{path}:{key_node.start_mark.line + 1}"
    return str(path)


def format_key_path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validate(model: type[Model], data: Any, places: Places, *, prefix: tuple = ()) -> Model:
    """model.model_validate(data), or BadInput naming file, line, key path and what was expected."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        errors = e.errors()
        # An unknown key is often a misspelt one the model then misses: name it first.
        first = next((err for err in errors if err["type"] == "extra_forbidden"), errors[0])
        own_loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
        loc = prefix + own_loc
        where = places.where(loc)
        if first["type"] == "extra_forbidden":
            parent = _model_at(model, own_loc[:-1])
            expected = f"; expected one of: {', '.join(parent.model_fields)}" if parent else ""
            message = f"{where}: {format_key_path(loc)}: unknown key{expected}"
        elif first["type"] == "missing":
            message = f"{where}: {format_key_path(loc)}: required key is missing"
        else:
            message = f"{where}: {format_key_path(loc)}: {first['msg']}"
        raise BadInput(message) from None


def _model_at(model: type, loc: tuple) -> type | None:
    """The pydantic model class found at loc, following field annotations."""
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
    """Reads a YAML file (and what it extends) into model; BadInput on any problem."""
    data, places = read_document(path)
    return validate(model, data, places)
