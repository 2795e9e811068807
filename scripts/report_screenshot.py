"""Writes docs/report_fr.png and docs/index_fr.png: the report and the index of a French
record, as headless Chromium shows them at 1280 px wide (issue 26: labels in the exam's
language, marks with their maxima, no sideways scrolling).

    uv run python scripts/report_screenshot.py [RECORD]

RECORD is a session's folder, as `viva simulate` writes it (docs/ shows the DELF B1 run of
tests/test_simulate.py against the bare emulator, its timers scaled: the suite's
sessions0/delf_b1_oral/<session id>). It is copied into a temporary folder of records, so the
index shows it alone. Without RECORD: the
hand-made fixture tests/data/report_fr/session.json (a French oral exam's record as viva
writes it), beside a silent recording.wav as long as the session, so the page shows its
player. Chromium is Debian's (/usr/bin/chromium, installed by scripts/setup.sh), driven by
Playwright as in tests/test_report_browser.py.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import wave
from pathlib import Path

from viva.report import write_reports

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "report_fr" / "session.json"
CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
# The window's height per page (a full-page screenshot grows past it): the index is one row.
PAGES = (("report.html", "report_fr.png", 720), ("index.html", "index_fr.png", 240))


def silent_recording(path: Path, seconds: float, *, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(4 * int(seconds * rate)))


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as temp:
        records = Path(temp) / "sessions"
        if argv:
            record = Path(argv[0])
            if not (record / "session.json").is_file():
                print(f"{record}: expected a session's folder, with its session.json", file=sys.stderr)
                return 2
            folder = records / record.name
            shutil.copytree(record, folder)
        else:
            folder = records / "20261207-101500-fr01"
            folder.mkdir(parents=True)
            shutil.copyfile(FIXTURE, folder / "session.json")
            silent_recording(folder / "recording.wav", 340.0)
        index = write_reports(records)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = browser.new_page()
                for name, target, height in PAGES:
                    source = folder / name if name == "report.html" else index
                    page.set_viewport_size({"width": WIDTH, "height": height})
                    page.goto(source.as_uri())
                    overflow = page.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
                    if overflow > 0:
                        print(f"{name}: {overflow} px wider than the {WIDTH} px window", file=sys.stderr)
                        return 1
                    page.screenshot(path=str(ROOT / "docs" / target), full_page=True)
                    print(ROOT / "docs" / target)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
