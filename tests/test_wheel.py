"""The wheel `uv build` makes holds every import package of the checkout (issue 17: an
installed viva failed at once with `No module named 'pipelines'`)."""

import subprocess
import zipfile

from tests.conftest import ROOT


def test_the_wheel_holds_every_package_of_the_checkout(tmp_path):
    subprocess.run(["uv", "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("viva-*.whl")
    in_wheel = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == {"viva", "emulator", "pipelines", "processors"}
    assert packages <= in_wheel
    for package in packages:
        sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("*.py")}
        assert sources <= set(zipfile.ZipFile(wheel).namelist()), package
