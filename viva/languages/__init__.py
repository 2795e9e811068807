"""viva's own words in each language it ships (one YAML file per language, named by its
primary subtag: en.yaml, fr.yaml): what it has the examiner say around the config's lines
(`exam`), and the labels of the report and index (`report`). The exam's language is the
config's `llm.language` (BCP-47, as the Live API takes it)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml


def table_name(language: str) -> str:
    """The table a BCP-47 code selects: its primary subtag, lower case ("fr-FR" -> "fr")."""
    return language.split("-", 1)[0].strip().lower()


@cache
def table(language: str) -> dict:
    """The language's table ({} when viva ships none for it)."""
    name = table_name(language)
    if not name.isalpha():
        return {}
    source = resources.files(__name__) / f"{name}.yaml"
    return yaml.safe_load(source.read_text(encoding="utf-8")) if source.is_file() else {}


def shipped() -> list[str]:
    """The languages viva ships a table for, by primary subtag."""
    return sorted(entry.name[:-5] for entry in resources.files(__name__).iterdir() if entry.name.endswith(".yaml"))
