"""Every YAML or JSON file viva reads is read within limits (viva/input_files.py): bad input is
one line (BadInput), never a traceback, a hang or gigabytes of memory.

The limit tests run with both of the loader's parsers: libyaml's (used when PyYAML has it)
and PyYAML's own (its fallback).
"""

import os
import tracemalloc

import pytest
import yaml

from tests.conftest import DATA, ROOT
from viva import input_files
from viva.config import load_config
from viva.errors import BadInput
from viva.input_files import MAX_DEPTH, MAX_EXTENDS, MAX_NODES, MAX_YAML_BYTES, load_json, read_document

PARSERS = [input_files._PyLoader] + ([input_files._CLoader] if yaml.__with_libyaml__ else [])

BOMB = (DATA / "alias_bomb.yaml").read_text()


@pytest.fixture(params=PARSERS, ids=lambda loader: loader.__name__)
def parser(request, monkeypatch):
    monkeypatch.setattr(input_files, "_BoundedLoader", request.param)


def refused(path, loader=read_document) -> str:
    """The one line BadInput says for path."""
    with pytest.raises(BadInput) as error:
        loader(path)
    message = str(error.value)
    assert len(message.splitlines()) == 1, message
    return message


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# -- aliases and nesting, bounded while the file is composed

def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_budget_before_expanding_it(tmp_path, parser):
    path = write(tmp_path / "bomb.yaml", BOMB)
    tracemalloc.start()
    try:
        # Line 6's first *e brings the count, aliases expanded, from 74,740 values to 141,170.
        assert refused(path) == f"{path}:6: aliases expand past {MAX_NODES} values"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # what it read and composed, not what the aliases name


def test_aliases_within_the_budget_load_as_shared_values(tmp_path, parser):
    path = write(tmp_path / "ok.yaml", "base: &base {voice: Puck, language: en-GB}\nllm: *base\nmerged: {<<: *base, x: 1}\n")
    data, places = read_document(path)
    assert data["llm"] == {"voice": "Puck", "language": "en-GB"} and data["merged"]["x"] == 1
    assert places.where(("llm",)) == f"{path}:2"


def test_more_values_than_the_budget_are_refused_where_the_budget_runs_out(tmp_path, parser, monkeypatch):
    monkeypatch.setattr(input_files, "MAX_NODES", 50)
    items = "".join(f"  - {i}\n" for i in range(60))
    # The top mapping, its key and the list are 3 values; the 48th item (line 49) is the 51st.
    assert refused(write(tmp_path / "long.yaml", "a:\n" + items)) == f"{tmp_path / 'long.yaml'}:49: more than 50 values"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_nesting_past_the_limit_is_refused(tmp_path, parser, depth):
    # The top-level mapping is the first level; 100,000 levels was a RecursionError.
    text = "a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"
    assert refused(write(tmp_path / "deep.yaml", text)) == f"{tmp_path / 'deep.yaml'}:1: nesting deeper than {MAX_DEPTH}"


def test_nesting_at_the_limit_is_read(tmp_path, parser):
    data, _ = read_document(write(tmp_path / "deep.yaml", "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)))
    depth, value = 1, data["a"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == MAX_DEPTH - 1  # the innermost list is empty


def test_block_nesting_past_the_limit_names_the_line_where_it_goes_too_deep(tmp_path, parser):
    text = "".join(f"{' ' * level}k{level}:\n" for level in range(MAX_DEPTH + 5))
    # Line 65 holds the first key of the 65th mapping.
    assert refused(write(tmp_path / "deep.yaml", text)) == f"{tmp_path / 'deep.yaml'}:65: nesting deeper than {MAX_DEPTH}"


def test_an_alias_counts_as_deep_as_what_it_names(tmp_path, parser):
    text = f"a: &deep {'[' * 40}{']' * 40}\nb: {'[' * 30}*deep{']' * 30}\n"
    assert refused(write(tmp_path / "deep.yaml", text)) == f"{tmp_path / 'deep.yaml'}:2: aliases nest deeper than {MAX_DEPTH}"


@pytest.mark.parametrize("text, anchor", [("a: &a [1, *a]\n", "a"), ("a: &m {k: *m}\n", "m")])
def test_an_alias_inside_what_it_names_is_refused(tmp_path, parser, text, anchor):
    path = write(tmp_path / "loop.yaml", text)
    assert refused(path) == f"{path}:1: alias *{anchor} is inside what it names (a loop)"


@pytest.mark.parametrize("value, problem", [
    ("1" * 5000, "not a valid int: more than 4300 digits"),
    ("2001-13-45", "not a valid timestamp: month must be in 1..12"),
    ("!!timestamp soon", "not a valid timestamp"),
    ("!!bool maybe", "not a valid bool"),
    ("!!int ''", "not a valid int"),
    ("!!float x", "not a valid float"),
])
def test_a_value_its_tag_cannot_hold_is_one_line(tmp_path, parser, value, problem):
    # Each was a ValueError, AttributeError, KeyError or IndexError out of PyYAML's constructor.
    path = write(tmp_path / "c.yaml", f"name: x\nvalue: {value}\n")
    assert refused(path).startswith(f"{path}:2: {problem}")


# -- the file itself

def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    message = f"{tmp_path / 'fifo.yaml'}: not a regular file (a device, FIFO or socket); expected a file"
    assert refused(tmp_path / "fifo.yaml") == message
    path = write(tmp_path / "c.yaml", "extends: fifo.yaml\n")
    assert refused(path, load_config) == f"{path}:1: extends: fifo.yaml: not a regular file (a device, FIFO or " \
                                         "socket); expected a file"


def test_extending_dev_zero_is_refused_before_reading_it(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    path = write(tmp_path / "c.yaml", "extends: /dev/zero\n")
    assert refused(path, load_config) == f"{path}:1: extends: /dev/zero: not a regular file (a device, FIFO or " \
                                         "socket); expected a file"


def test_a_folder_is_refused(tmp_path):
    assert refused(tmp_path) == f"{tmp_path}: is a folder; expected a file"


def test_a_file_of_the_size_limit_is_read_and_one_byte_more_is_refused(tmp_path):
    head = "exam: {name: x}\n#"
    path = write(tmp_path / "c.yaml", head + "x" * (MAX_YAML_BYTES - len(head)))
    assert read_document(path)[0] == {"exam": {"name": "x"}}
    with path.open("a") as file:
        file.write("x")
    assert refused(path) == f"{path}: over 1 MB, the most viva reads from such a file"


def test_a_huge_file_is_refused_after_reading_just_past_the_limit(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(64 * 1024**3)  # 64 GB, sparse: nothing on disk, everything to read
    tracemalloc.start()
    try:
        assert refused(path) == f"{path}: over 1 MB, the most viva reads from such a file"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_YAML_BYTES


def test_a_file_name_over_255_characters_is_one_line(tmp_path):
    name = "a" * 300 + ".yaml"
    assert refused(tmp_path / name) == f"{tmp_path / name}: cannot read: File name too long"
    # As an `extends:`, the name was an OSError traceback from Path.exists.
    path = write(tmp_path / "c.yaml", f"extends: {name}\n")
    assert refused(path, load_config) == f"{path}:1: extends: {name}: cannot read: File name too long"


def test_a_symlink_loop_in_extends_is_one_line(tmp_path):
    # Path.resolve raised RuntimeError on it.
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    path = write(tmp_path / "c.yaml", "extends: loop.yaml\n")
    assert refused(path, load_config) == f"{path}:1: extends: loop.yaml: cannot read: Too many levels of symbolic links"


def test_an_extends_chain_is_at_most_the_limit_long(tmp_path):
    write(tmp_path / "f0.yaml", "llm: {voice: Puck}\n")
    for i in range(1, MAX_EXTENDS + 1):
        write(tmp_path / f"f{i}.yaml", f"extends: f{i - 1}.yaml\n")
    assert read_document(tmp_path / f"f{MAX_EXTENDS - 1}.yaml")[0] == {"llm": {"voice": "Puck"}}
    message = refused(tmp_path / f"f{MAX_EXTENDS}.yaml")
    assert message == (f"{tmp_path / 'f1.yaml'}:1: extends: f0.yaml: a chain of more than {MAX_EXTENDS} files "
                       "extending each other")


def test_text_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"name: caf\xe9\n")
    assert refused(tmp_path / "c.yaml") == f"{tmp_path / 'c.yaml'}: not valid UTF-8: byte 9"


def test_a_key_holding_a_line_break_is_quoted_on_the_one_line(tmp_path):
    path = write(tmp_path / "c.yaml", f'extends: {ROOT / "configs/ielts_speaking_short.yaml"}\n"ex\\nam": 1\n')
    assert refused(path, load_config) == f"{path}:2: ex\\nam: unknown key; expected one of: exam, llm, session, pipeline"


# -- JSON

def test_json_with_an_integer_python_will_not_convert_is_one_line(tmp_path):
    path = write(tmp_path / "r.json", '{"t": ' + "7" * 5000 + "}")
    assert refused(path, load_json) == f"{path}: an integer of more than 4300 digits"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_json_nested_past_the_limit_is_one_line(tmp_path, depth):
    path = write(tmp_path / "r.json", "[" * depth + "]" * depth)
    assert refused(path, load_json) == f"{path}: nesting deeper than {MAX_DEPTH}"


def test_json_within_the_limits_is_read(tmp_path):
    path = write(tmp_path / "r.json", '{"a": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + ', "n": 1e999}')
    value = load_json(path)
    assert value["n"] == float("inf") and isinstance(value["a"], list)


def test_json_over_the_size_limit_or_in_a_fifo_is_one_line(tmp_path):
    path = write(tmp_path / "r.json", '{"a": "' + "x" * 100 + '"}')
    assert refused(path, lambda p: load_json(p, max_bytes=100)) == f"{path}: over 100 bytes, the most viva reads " \
                                                                     "from such a file"
    os.mkfifo(tmp_path / "fifo.json")
    assert "not a regular file" in refused(tmp_path / "fifo.json", load_json)
