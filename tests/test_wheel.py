"""The wheel `uv build` makes installs into a clean environment and works outside the checkout
(issue 17: an installed viva failed at once with `No module named 'pipelines'`, which the
editable install in .venv hid)."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(["uv", "build", "--wheel", "--out-dir", str(out), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    (built,) = out.glob("viva-*.whl")
    return built


def test_the_wheel_holds_every_package_of_the_checkout(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == {"viva", "emulator"}  # the product and the emulator; nothing else at the top
    assert packages <= {name.split("/")[0] for name in names}
    for package in packages:
        sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("*.py")}
        assert sources <= names, package


def test_the_installed_wheel_validates_and_runs_an_exam_outside_the_checkout(wheel, tmp_path):
    # The lock's versions, not whatever PyPI has today: uv's cache serves them (scripts/setup.sh filled it).
    pins = tmp_path / "requirements.txt"
    pins.write_text(subprocess.run(["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"],
                                   cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    env_dir = tmp_path / "env"
    subprocess.run(["uv", "venv", "--python", sys.executable, str(env_dir)], check=True, capture_output=True)
    subprocess.run(["uv", "pip", "install", "--python", str(env_dir / "bin" / "python"), "-r", str(pins), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    viva = str(env_dir / "bin" / "viva")

    def run(*args):
        return subprocess.run([viva, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)

    imported = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import viva, emulator; print(viva.__file__)"],
                              cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert str(env_dir) in imported.stdout and str(ROOT) not in imported.stdout  # not the checkout's copy

    validated = run("validate", str(ROOT / "configs" / "ielts_speaking_short.yaml"))
    assert validated.returncode == 0, validated.stderr[-2000:]
    broken = tmp_path / "broken.yaml"
    broken.write_text("exam:\n  name: x\n  parts: 3\n")
    refused = run("validate", str(broken))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-2000:]

    out = tmp_path / "sessions"
    simulated = run("simulate", str(ROOT / "tests" / "data" / "configs" / "ielts_tiny.yaml"), "--candidate",
                    str(ROOT / "candidates" / "b2_steady.yaml"), "--llm", "emulator", "--out", str(out))
    assert simulated.returncode == 0, simulated.stderr[-3000:]
    (record,) = out.glob("*/session.json")
    data = json.loads(record.read_text())
    assert data["outcome"] == "completed" and data["result"], data.get("end_reason")
