"""The Pipecat Cloud files (issue 17): what the Dockerfile copies into the image is enough for the
bot, without the emulator or the tests; pcc-deploy.toml names what a deploy needs.

Docker cannot run here: the image's /app is assembled from the Dockerfile's COPY lines, and the
bot is imported from it the way the base image's app.py does (`from bot import bot`)."""

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT


def copies() -> list[tuple[str, str]]:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    return [tuple(line.split()[1:3]) for line in lines if line.startswith("COPY ")]


def test_the_image_is_pipecat_clouds_base_on_the_projects_python():
    text = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert base.startswith("dailyco/pipecat-base:") and base.endswith("-py3.11")
    assert "uv sync --locked" in text  # the lock's versions


def ignored() -> list[str]:
    """.dockerignore's patterns (this project's: plain paths and **/NAME), without comments."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def build_context_files(source: str) -> list[Path]:
    """The files under source that the build context sends (what .dockerignore leaves)."""
    patterns = ignored()
    files = [source] if (ROOT / source).is_file() else [p.relative_to(ROOT).as_posix()
                                                         for p in (ROOT / source).rglob("*") if p.is_file()]
    return [ROOT / f for f in files
            if not any(fnmatch.fnmatch(f, pattern) or f.startswith(pattern + "/") or
                       (pattern.startswith("**/") and pattern[3:] in f.split("/")) for pattern in patterns)]


def test_the_images_app_folder_runs_the_bot_without_the_emulator(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    for source, target in copies():
        for file in build_context_files(source):
            relative = file.relative_to(ROOT / source) if (ROOT / source).is_dir() else Path()
            destination = app / target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(file, destination)
    assert not (app / "emulator").exists() and not (app / "tests").exists()
    assert (app / "viva" / "bot.py").exists() and not (app / "viva" / "harness").exists()
    probe = (
        "import sys, inspect\n"
        f"sys.path = [p for p in sys.path if p not in ('', {str(ROOT)!r})]\n"
        "sys.path.insert(0, '.')\n"
        "sys.modules['emulator'] = None  # not in the image: any import of it fails\n"
        "from bot import bot\n"
        "import viva\n"
        "assert inspect.iscoroutinefunction(bot), bot\n"
        "print(viva.__file__)\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=app, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().startswith(str(app))


def test_the_deploy_config_names_the_agent_its_secrets_and_its_pool():
    deploy = tomllib.loads((ROOT / "pcc-deploy.toml").read_text())
    assert deploy["agent_name"] and deploy["image"] and deploy["secret_set"]
    assert deploy["agent_profile"] in {"agent-1x", "agent-2x", "agent-3x"}
    assert 0 <= deploy["scaling"]["min_agents"] <= deploy["scaling"]["max_agents"]
