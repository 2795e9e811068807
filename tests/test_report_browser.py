"""report.html and index.html in headless Chromium: a click on a transcript line or a timeline
mark plays the recording from there, the index links every record's report, and a French
record's report and index are in French and fit a 1280 px window without sideways scrolling.

Chromium is Debian's (/usr/bin/chromium, installed by scripts/setup.sh), driven by
Playwright for Python through `executable_path`, as in tests/transports/test_webrtc.py: no
browser is downloaded. The pages are opened from disk (file://), as a moderator opens an
archived record folder. Every wait is on the page's state (an event seen, a property),
never a fixed sleep.
"""

import json
import shutil

import pytest

from tests.test_report import FRENCH_RECORD, full_record, write_wav
from viva import languages
from viva.report import audio_time, write_reports

CHROMIUM = "/usr/bin/chromium"
RECORDING_S = 45.0  # covers the lines and marks clicked below (full_record's times)
TIMEOUT_MS = 30_000  # a ceiling on a busy machine, not a pace

# Every seek the page makes, with the position it reached: what the test waits on.
WATCH_SEEKS = """() => {
  const audio = document.getElementById("recording");
  window.seeks = [];
  audio.addEventListener("seeked", () => window.seeks.push(audio.currentTime));
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "Debian's chromium is installed by scripts/setup.sh"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless=new", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield launched
        finally:
            launched.close()


def sessions(tmp_path, count: int = 3) -> list[dict]:
    """tmp_path/sessions with count records, each with its own recording.wav."""
    records = []
    for i in range(count):
        record = full_record()
        record.update(session_id=f"20261124-10150{i}-ab1{i}", outcome=("completed", "failed", "aborted")[i % 3])
        folder = tmp_path / "sessions" / record["session_id"]
        folder.mkdir(parents=True)
        (folder / "session.json").write_text(json.dumps(record), encoding="utf-8")
        write_wav(folder / "recording.wav", RECORDING_S)
        records.append(record)
    return records


def seek_by_clicking(page, selector: str) -> float:
    """Clicks the element, waits for the recording's next seek to complete; the position it reached."""
    before = page.evaluate("window.seeks.length")
    page.locator(selector).click(timeout=TIMEOUT_MS)
    page.wait_for_function(f"window.seeks.length > {before}", timeout=TIMEOUT_MS)
    return page.evaluate("window.seeks[window.seeks.length - 1]")


def test_clicking_a_transcript_line_or_a_timeline_mark_plays_the_recording_from_there(browser, tmp_path):
    [record, *_] = sessions(tmp_path, 1)
    write_reports(tmp_path / "sessions")
    page = browser.new_page()
    try:
        page.goto((tmp_path / "sessions" / record["session_id"] / "report.html").as_uri())
        page.wait_for_function("document.getElementById('recording').readyState >= 1", timeout=TIMEOUT_MS)
        assert page.evaluate("document.getElementById('recording').duration") == pytest.approx(RECORDING_S, abs=0.01)
        page.evaluate(WATCH_SEEKS)

        line = record["transcript"][1]  # the candidate's, from 12 s
        target = audio_time(line["start_s"])
        reached = seek_by_clicking(page, f'.transcript tr[data-t="{target:.3f}"]')
        assert reached == pytest.approx(target, abs=0.05)
        page.wait_for_function("!document.getElementById('recording').paused", timeout=TIMEOUT_MS)  # and it plays
        assert page.evaluate("document.getElementById('recording').currentTime") >= target - 0.05

        # an examiner interval on the timeline (32-40 s), then a marker (tool_call at 75 s: past the
        # recording's end, so it plays its end)
        assert seek_by_clicking(page, 'rect.examiner[data-start="32.00"]') == pytest.approx(audio_time(32.0), abs=0.05)
        reached = seek_by_clicking(page, 'g.marker[data-type="tool_call"][data-t="75.000"]')
        assert reached == pytest.approx(RECORDING_S, abs=0.05)
    finally:
        page.close()


def test_the_index_lists_every_record_with_a_working_link(browser, tmp_path):
    records = sessions(tmp_path, 3)
    index = write_reports(tmp_path / "sessions")
    page = browser.new_page()
    try:
        page.goto(index.as_uri())
        rows = page.locator("tr[data-folder]")
        assert rows.count() == len(records)
        assert page.locator("tr[data-folder]").evaluate_all("rows => rows.map(r => r.dataset.folder)") == [
            record["session_id"] for record in records]
        for i, record in enumerate(records):
            rows.nth(i).get_by_role("link", name="report").click(timeout=TIMEOUT_MS)
            page.wait_for_url("**/" + record["session_id"] + "/report.html", timeout=TIMEOUT_MS)
            assert record["session_id"] in page.locator("h1").inner_text()
            page.go_back()
            page.wait_for_url(index.as_uri(), timeout=TIMEOUT_MS)
    finally:
        page.close()


WIDE = {"width": 1280, "height": 800}  # issue 26: no sideways scrolling at 1280 px
OVERFLOW = "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"


def test_a_french_report_and_index_are_in_french_and_fit_1280_px(browser, tmp_path):
    words = languages.table("fr")["report"]
    folder = tmp_path / "sessions" / "20261207-101500-fr01"
    folder.mkdir(parents=True)
    shutil.copyfile(FRENCH_RECORD / "session.json", folder / "session.json")
    write_wav(folder / "recording.wav", 1.0)
    index = write_reports(tmp_path / "sessions")
    page = browser.new_page(viewport=WIDE)
    try:
        page.goto((folder / "report.html").as_uri())
        assert page.evaluate("document.documentElement.lang") == "fr-FR"
        assert page.evaluate(OVERFLOW) <= 0
        page.screenshot(path=str(tmp_path / "report_fr.png"), full_page=True)
        assert page.locator("h2").all_inner_texts() == [words[key] for key in (
            "result_heading", "scores_heading", "timeline_heading", "metrics_heading", "transcript_heading")]
        assert page.locator('tr[data-field="outcome"]').inner_text() == f"{words['outcome']}\t{words['outcomes']['completed']}"
        assert page.locator(".hint").inner_text() == words["player_hint"].format(recording="recording.wav")
        assert page.locator("text.lane").all_text_contents() == list(words["lanes"].values())
        assert page.locator(".transcript tr th").all_inner_texts() == list(words["transcript_columns"].values())
        marks = page.locator("table.result tr.depth0").all_inner_texts()
        assert "aisance\t3.5 / 5" in marks and "prononciation\t4.5 / 5" in marks
        assert page.locator('tr[data-score="total"] td.value').inner_text() == "15 / 20"

        page.goto(index.as_uri())
        assert page.evaluate("document.documentElement.lang") == "fr-FR"
        assert page.evaluate(OVERFLOW) <= 0
        page.screenshot(path=str(tmp_path / "index_fr.png"), full_page=True)
        assert page.locator("table.index th").all_inner_texts() == list(words["index_columns"].values())
        assert "Total (sur 20) 15 / 20 ≈" in page.locator("td.scores").inner_text()
        page.get_by_role("link", name=words["report_link"]).click(timeout=TIMEOUT_MS)
        page.wait_for_url("**/20261207-101500-fr01/report.html", timeout=TIMEOUT_MS)
    finally:
        page.close()
    assert (tmp_path / "report_fr.png").stat().st_size > 0 and (tmp_path / "index_fr.png").stat().st_size > 0


def test_long_unbroken_values_wrap_instead_of_widening_the_pages(browser, tmp_path):
    long = "x" * 400
    record = full_record()
    record.update(config=f"configs/{long}.yaml", exam=f"Exam {long}", end_reason=f"error: {long}",
                  result_source=long)
    record["result"]["evidence"]["fluency_coherence"] = long
    record["result"][long] = 1
    record["transcript"][1]["text"] = long
    record["metrics"]["note"] = long
    record["metrics"]["huge"] = int("9" * 400)
    record["scores"] = [{"name": "band", "label": "Band", "value": 6, "rule": "mean, none", "of": {long: 6},
                         "official": False, "source": long}]
    folder = tmp_path / "sessions" / record["session_id"]
    folder.mkdir(parents=True)
    (folder / "session.json").write_text(json.dumps(record), encoding="utf-8")
    index = write_reports(tmp_path / "sessions")
    page = browser.new_page(viewport=WIDE)
    try:
        for source in (folder / "report.html", index):
            page.goto(source.as_uri())
            assert page.evaluate(OVERFLOW) <= 0, source.name
    finally:
        page.close()
