"""Arguments the emulated model sends: valid against whatever schema was declared."""

import random

import pytest
from google.genai import types

from emulator.toolargs import declared_json_schema, example_arguments, schema_errors
from viva.config import load_config
from viva.tools import declarable_schema
from tests.conftest import ROOT

IELTS_TOOL = load_config(ROOT / "configs/ielts_speaking.yaml").exam.tools[0]


@pytest.mark.parametrize("seed", range(20))
def test_arguments_for_the_ielts_tool_are_valid_against_its_full_schema(seed):
    arguments = example_arguments(IELTS_TOOL.parameters, random.Random(seed))
    assert schema_errors(IELTS_TOOL.parameters, arguments) == []
    assert all(value * 2 == int(value * 2) for key, value in arguments.items() if key != "evidence")


def test_a_gemini_schema_declaration_becomes_json_schema():
    declaration = types.FunctionDeclaration(name="f", parameters=declarable_schema(IELTS_TOOL.parameters))
    schema = declared_json_schema(declaration)
    assert schema["type"] == "object"
    assert schema["properties"]["pronunciation"]["type"] == "number"
    arguments = example_arguments(schema, random.Random(1))
    assert schema_errors(IELTS_TOOL.parameters, arguments) == []


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 5}}},
    {"type": "object", "properties": {"e": {"type": "string", "enum": ["a", "b"]}}},
    {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string", "minLength": 80}, "minItems": 2}}},
    {"type": "object", "properties": {"x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.25}}},
    {"type": "object", "properties": {"o": {"anyOf": [{"type": "boolean"}, {"type": "null"}]}}},
])
def test_arguments_fit_other_schemas_too(schema):
    assert schema_errors(schema, example_arguments(schema, random.Random(0))) == []


def test_schema_errors_say_where_and_what():
    errors = schema_errors(IELTS_TOOL.parameters, {"pronunciation": 9.3})
    assert "pronunciation: 9.3 is not a multiple of 0.5" in errors
    assert any("'evidence' is a required property" in e for e in errors)
