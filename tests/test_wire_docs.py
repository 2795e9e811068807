"""docs/exam_on_the_wire.md is what viva sends today: regenerating it changes nothing."""

import runpy

from tests.conftest import ROOT


def test_the_document_of_what_the_model_is_told_is_current():
    script = runpy.run_path(str(ROOT / "scripts" / "wire_docs.py"))
    assert (ROOT / "docs" / "exam_on_the_wire.md").read_text() == script["document"](script["DEFAULT"]), (
        "docs/exam_on_the_wire.md is stale: run `uv run python scripts/wire_docs.py`")
