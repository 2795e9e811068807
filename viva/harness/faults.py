"""Reading a faults file (the emulator's FaultsFile) with viva's YAML errors: file, line, key path.

Here, not in the emulator: the emulator is a package of its own and takes the parsed model.
"""

from __future__ import annotations

from pathlib import Path

from emulator.faults import FaultsFile
from viva.input_files import read_document, validate


def load_faults(path: Path) -> FaultsFile:
    """Reads a faults file; BadInput naming file, line and key on any problem."""
    data, places = read_document(Path(path))
    return validate(FaultsFile, data, places)
