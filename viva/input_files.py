"""Files viva reads, with limits; YAML files validated into pydantic models, with errors
that point at file, line and key.

Every YAML or JSON file viva reads (a config and what it extends, a candidate file, a
faults file, a session record) is read here, bounded: a regular file only (a FIFO or a
device is refused before it is read, so it cannot hang viva or feed it without end), at
most a set number of bytes, nested at most MAX_DEPTH deep, and, for YAML, at most
MAX_NODES values with every alias counted as the whole of what it names (so a few hundred
bytes of aliases cannot expand into gigabytes). Each limit broken is one BadInput line.

A file may start from another with `extends: other.yaml` (relative to the file):
mappings are merged key by key, everything else (lists, values) is replaced. An error
names the file and line where the offending key was written, whichever file that is.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import typing
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from viva.errors import BadInput

Model = TypeVar("Model", bound=pydantic.BaseModel)
EXTENDS = "extends"

MB = 1024 * 1024
# A real config is a few KB and a session record some tens of KB: the limits are far above
# any real file and far below what would take viva minutes or gigabytes to read.
MAX_YAML_BYTES = 1 * MB
MAX_JSON_BYTES = 16 * MB
MAX_DEPTH = 64  # collections inside collections (the top-level mapping is 1)
MAX_NODES = 100_000  # values in one YAML file, an alias counting as every value it names
MAX_EXTENDS = 10  # files in one `extends:` chain, the first included


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


# -- reading a file, bounded

def _size(limit: int) -> str:
    return f"{limit // MB} MB" if limit % MB == 0 else f"{limit} bytes"


def _refuse_unless_regular(mode: int, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise BadInput(f"{what}: is a folder; expected a file")
    if not stat.S_ISREG(mode):
        raise BadInput(f"{what}: not a regular file (a device, FIFO or socket); expected a file")


def check_regular_file(path: Path, *, what: str | None = None) -> None:
    """BadInput (naming `what`, default the path) unless path is a regular file: checked before
    opening, since opening a device can itself have effects and opening a FIFO waits for a writer."""
    what = what or str(path)
    try:
        _refuse_unless_regular(os.stat(path).st_mode, what)
    except FileNotFoundError:
        raise BadInput(f"{what}: no such file") from None
    except OSError as e:
        raise BadInput(f"{what}: cannot read: {e.strerror or e}") from None


def read_bytes(path: Path, *, max_bytes: int, what: str | None = None) -> bytes:
    """The file's bytes, read bounded; BadInput (naming `what`, default the path) if it is
    missing, not a regular file or over max_bytes. Never reads more than max_bytes + 1."""
    what = what or str(path)
    check_regular_file(path, what=what)
    try:
        # O_NONBLOCK: should the path have become a FIFO since, opening it does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BadInput(f"{what}: no such file") from None
    except OSError as e:
        raise BadInput(f"{what}: cannot read: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "rb") as file:
            _refuse_unless_regular(os.fstat(fd).st_mode, what)
            data = file.read(max_bytes + 1)
    except OSError as e:
        raise BadInput(f"{what}: cannot read: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise BadInput(f"{what}: over {_size(max_bytes)}, the most viva reads from such a file")
    return data


def read_text(path: Path, *, max_bytes: int, what: str | None = None) -> str:
    """read_bytes, decoded as UTF-8; BadInput if it is not."""
    data = read_bytes(path, max_bytes=max_bytes, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{what or path}: not valid UTF-8: byte {e.start}") from None


def load_json(path: Path, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file's value, read bounded; BadInput (one line) if it is unreadable, invalid,
    over max_bytes, nested deeper than MAX_DEPTH or holds an integer Python will not convert."""
    text = read_text(path, max_bytes=max_bytes)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not valid JSON: {e.msg} at line {e.lineno}") from None
    except RecursionError:
        raise BadInput(f"{path}: nesting deeper than {MAX_DEPTH}") from None
    except ValueError:
        # The only other ValueError json.loads raises: an integer past Python's conversion limit.
        raise BadInput(f"{path}: an integer of more than {sys.get_int_max_str_digits()} digits") from None
    if _deeper_than(value, MAX_DEPTH):
        raise BadInput(f"{path}: nesting deeper than {MAX_DEPTH}")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and dicts nest in value more than limit deep (walked without recursion)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


# -- YAML, bounded while it is composed

class _OverLimit(yaml.MarkedYAMLError):
    """A YAML file within the language but past one of viva's limits."""


class _BadScalar(yaml.constructor.ConstructorError):
    """A YAML value its tag cannot hold."""


class _Bounded(yaml.composer.Composer):
    """PyYAML's composer, refusing while it composes the node tree (before anything is
    expanded or constructed) nesting deeper than MAX_DEPTH and more than MAX_NODES values,
    an alias counting as every value it names and as deep as what it names.

    PyYAML shares an aliased node rather than copying it, so the tree itself stays small;
    what grows without bound is everything that walks it afterwards (the constructed data
    validated by pydantic, the places of its keys).
    """

    def _start_counting(self) -> None:
        self.anchors: dict[str, yaml.Node] = {}
        self._depth = 0  # collections open around the node being composed
        self._deepest = 0  # the deepest the node being composed reaches, aliases expanded
        self._values = 0  # values composed so far, aliases expanded
        self._extent: dict[yaml.Node, tuple[int, int]] = {}  # an anchored node -> (values, height)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            return self._compose_alias(parent, index, event)
        values_before, deepest_outside = self._values, self._deepest
        self._count(1, event.start_mark, alias=False)
        is_collection = isinstance(event, yaml.CollectionStartEvent)
        if is_collection:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _OverLimit(None, None, f"nesting deeper than {MAX_DEPTH}", event.start_mark)
        self._deepest = self._depth
        try:
            node = super().compose_node(parent, index)
        finally:
            if is_collection:
                self._depth -= 1
        if event.anchor is not None:
            self._extent[node] = (self._values - values_before, self._deepest - self._depth)
        self._deepest = max(self._deepest, deepest_outside)
        return node

    def _compose_alias(self, parent: yaml.Node | None, index: Any, event: yaml.AliasEvent) -> yaml.Node:
        node = super().compose_node(parent, index)  # the anchored node (an undefined alias is an error there)
        if node not in self._extent:
            raise _OverLimit(None, None, f"alias *{event.anchor} is inside what it names (a loop)", event.start_mark)
        values, height = self._extent[node]
        self._count(values, event.start_mark, alias=True)
        if self._depth + height > MAX_DEPTH:
            raise _OverLimit(None, None, f"aliases nest deeper than {MAX_DEPTH}", event.start_mark)
        self._deepest = max(self._deepest, self._depth + height)
        return node

    def _count(self, values: int, mark: yaml.Mark, *, alias: bool) -> None:
        self._values += values
        if self._values > MAX_NODES:
            problem = "aliases expand past" if alias else "more than"
            raise _OverLimit(None, None, f"{problem} {MAX_NODES} values", mark)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        # PyYAML's scalar constructors let Python's own errors out for a value its tag cannot
        # hold (`!!int x`, `2001-13-45`, an integer past Python's conversion limit...).
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as e:
            tag = node.tag.rpartition(":")[2]
            digits = sum(c.isdigit() for c in node.value) if isinstance(node.value, str) else 0
            if tag == "int" and digits > sys.get_int_max_str_digits():
                reason = f"more than {sys.get_int_max_str_digits()} digits"
            else:
                reason = str(e) or type(e).__name__
            raise _BadScalar(None, None, f"not a valid {tag}: {reason}", node.start_mark) from None


class _PyLoader(_Bounded, yaml.SafeLoader):
    """Parsing in Python (PyYAML without libyaml), composing bounded."""

    def __init__(self, stream: str):
        yaml.SafeLoader.__init__(self, stream)
        self._start_counting()


if yaml.__with_libyaml__:
    class _CLoader(_Bounded, yaml.cyaml.CSafeLoader):
        """Parsing in libyaml (some twenty times faster on a large file), composing bounded in
        Python: _Bounded's composer comes first, so CSafeLoader's own (in C) is never used."""

        def __init__(self, stream: str):
            yaml.cyaml.CSafeLoader.__init__(self, stream)
            self._start_counting()


_BoundedLoader = _CLoader if yaml.__with_libyaml__ else _PyLoader


def _read(path: Path, what: str | None = None) -> tuple[Any, yaml.Node | None]:
    text = read_text(path, max_bytes=MAX_YAML_BYTES, what=what)
    loader = None
    try:
        loader = _BoundedLoader(text)  # inside the try: PyYAML's own reader checks the characters when made
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        kind = "" if isinstance(e, (_OverLimit, _BadScalar)) else "invalid YAML: "
        hint = UNQUOTED_COLON_HINT if problem.startswith("mapping values are not allowed") else ""
        raise BadInput(f"{path}{line}: {kind}{problem}{hint}") from None
    finally:
        if loader is not None:
            loader.dispose()


# YAML reads ": " inside unquoted text as a new key (a colon in a sentence; French typography
# puts a space before it): the one fix is to quote the text.
UNQUOTED_COLON_HINT = ("; a colon followed by a space inside unquoted text starts a key: put the text in quotes "
                       "(\"...\") or after `>-` on the lines below")


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else in override replaces base."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def read_document(path: Path, _chain: tuple[Path, ...] = (), _what: str | None = None) -> tuple[dict, Places]:
    """The file's data with its `extends:` chain merged in, and where each key was written.

    Each file of the chain is read within the limits above; BadInput (one line) on any problem.
    """
    path = Path(path)
    data, node = _read(path, _what)
    if not isinstance(data, dict):
        raise BadInput(f"{path}:1: expected a mapping of keys at the top level")
    places = Places(path)
    parent = data.pop(EXTENDS, None)
    if parent is not None:
        at = f"{_line(path, node, EXTENDS)}: {EXTENDS}"
        if not isinstance(parent, str):
            raise BadInput(f"{at}: expected the path of another config file")
        # realpath, not Path.resolve: it never raises (on a symlink loop, say); reading the file does.
        chain = (*_chain, Path(os.path.realpath(path)))
        parent_path = Path(os.path.realpath(path.parent / parent))
        if parent_path in chain:
            raise BadInput(f"{at}: {parent} extends itself in a loop")
        if len(chain) >= MAX_EXTENDS:
            raise BadInput(f"{at}: {parent}: a chain of more than {MAX_EXTENDS} files extending each other")
        base, base_places = read_document(parent_path, chain, _what=f"{at}: {parent}")
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
            # Fields excluded from the model's dump are set by viva, never written in a file.
            keys = [name for name, field in parent.model_fields.items() if not field.exclude] if parent else []
            expected = f"; expected one of: {', '.join(keys)}" if keys else ""
            message = f"{where}: {format_key_path(loc)}: unknown key{expected}"
        elif first["type"] == "missing":
            message = f"{where}: {format_key_path(loc)}: required key is missing"
        else:
            # pydantic words a validator's own message "Value error, ...": the message is the user's line.
            message = f"{where}: {format_key_path(loc)}: {first['msg'].removeprefix('Value error, ')}"
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
