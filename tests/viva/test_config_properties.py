"""Whatever a config file holds, load_config returns a config or raises BadInput with one line.

Never another exception (a traceback for the user), never a hang: text, bytes, YAML-ish
fragments (anchors, aliases, tags, flow and block collections) and structures dumped as
YAML, alone or extending a real config so they reach its validators.
"""

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from viva.config import VivaConfig, load_config
from viva.errors import BadInput

BASE = ROOT / "configs/ielts_speaking_short.yaml"
# The same file is written again for each example: the function-scoped tmp_path is fine.
FAST = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load(path) -> None:
    """load_config(path): a config, or BadInput with one line; any other exception fails the test."""
    try:
        config = load_config(path)
    except BadInput as e:
        message = str(e)
        assert message and len(message.splitlines()) == 1 and "\n" not in message, repr(message)
        return
    assert isinstance(config, VivaConfig)


@FAST
@given(st.text())
def test_any_text(tmp_path, text):
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    load(tmp_path / "c.yaml")


@FAST
@given(st.binary())
def test_any_bytes(tmp_path, data):
    (tmp_path / "c.yaml").write_bytes(data)
    load(tmp_path / "c.yaml")


FRAGMENTS = st.sampled_from([
    "[", "]", "{", "}", ", ", "- ", ": ", "? ", "\n", "  ", "    ", "&a ", "&b ", "*a", "*b", "<<: ", "!!int ",
    "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!set ", "!!omap ", "!!str ", "!!map ", "!!seq ", "!foo ",
    "'", '"', "|\n", ">\n", "#", "---\n", "...\n", "%YAML 1.1\n", "exam", "parts", "name", "pipeline", "stage",
    "extends", "llm", "tools", "null", "~", "true", "1", "-1", "0x1F", "1_000", "1:20", "1e999", ".inf", ".nan",
    "2001-13-45", "2001-12-14t21:59:43.10-05:00", "9" * 4400, "\t", "\x00", "\ufeff", "\u2028",
])


@FAST
@given(st.lists(FRAGMENTS, max_size=40).map("".join))
def test_yaml_fragments(tmp_path, text):
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    load(tmp_path / "c.yaml")


KEYS = st.sampled_from(["exam", "name", "greeting", "system_prompt", "parts", "closing_phrase", "tools", "scores",
                        "questions", "cue_card", "role", "judge", "next", "if_cut", "llm", "model", "voice", "session",
                        "max_s", "pipeline", "stage", "turn_gate", "silero_vad", "Part 1", "Part 2", "end",
                        "parameters", "type", "object", "description"]) | st.text(string.printable, max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["end", "Part 1", "turn_gate", "silero_vad", "gemini_live", "object", "low"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=25)


@SLOW
@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_structures(tmp_path, data):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    load(tmp_path / "c.yaml")


@SLOW
@given(st.dictionaries(KEYS, VALUES, max_size=4))
def test_structures_over_a_real_config(tmp_path, data):
    """The overrides merge into a valid config, so they reach the exam's and the stages' validators."""
    text = yaml.safe_dump({"extends": str(BASE), **data}, allow_unicode=True)
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    load(tmp_path / "c.yaml")


@pytest.mark.parametrize("field", ["exam", "pipeline", "llm"])
@SLOW
@given(data=VALUES)
def test_one_section_replaced_in_a_real_config(tmp_path, field, data):
    text = yaml.safe_dump({"extends": str(BASE), field: data}, allow_unicode=True)
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    load(tmp_path / "c.yaml")
