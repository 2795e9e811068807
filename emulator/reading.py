"""The emulated text model reading a result out of a transcript it is sent.

A model asked to extract a tool's arguments from an examiner's transcript can only
use what the text says. This reader knows the way the emulated examiner says a result
aloud (emulator/misbehaviour.py `spoken_result`: "I would give fluency coherence a six
point five, ..., and overall band a seven. Evidence. Fluency coherence: <note> ... End
of evidence.") and takes back, for each property the schema names, what the text says
of it: numbers said in words, notes after their label. It invents nothing: a property
the text does not state is left out, so a client's validation says what is missing.
"""

from __future__ import annotations

import re

_ONES = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9, "ten": 10}
_NUMBER = r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|\d+)(?: point(?: (?:zero|one|two|three|four|five|six|seven|eight|nine))+)?"


def said_number(words: str) -> float | int:
    """'six point five' -> 6.5; 'seven' -> 7."""
    whole, _, fraction = words.partition(" point ")
    value = _ONES[whole] if whole in _ONES else int(whole)
    if not fraction:
        return value
    return float(f"{value}." + "".join(str(_ONES[d]) for d in fraction.split()))


def _label(name: str) -> str:
    return name.replace("_", " ")


def _types(prop: dict) -> set[str]:
    kind = prop.get("type", "object" if "properties" in prop else None)
    return {str(k).lower() for k in (kind if isinstance(kind, list) else [kind])}


def read_result(text: str, schema: dict | None) -> dict:
    """The arguments text states for the properties of schema (an object schema); {} when none."""
    properties = (schema or {}).get("properties") or {}
    flat = " ".join(text.split())
    lower = flat.lower()
    found: dict = {}
    for name, prop in properties.items():
        kinds = _types(prop)
        label = re.escape(_label(name).lower())
        if kinds & {"number", "integer"}:
            mark = re.search(rf"\b{label} a ({_NUMBER})\b", lower) or re.search(rf"\b{label}: ({_NUMBER})\.", lower)
            if mark:
                value = said_number(mark.group(1))
                found[name] = int(value) if "integer" in kinds and float(value).is_integer() else value
        elif "object" in kinds:
            block = re.search(rf"\b{label}\. (.*?) end of {label}\.", lower)
            if block:
                start, end = block.span(1)
                inner = read_notes(flat[start:end], prop)
                if inner:
                    found[name] = inner
        elif "string" in kinds:
            notes = read_notes(flat, {"properties": {name: prop}})
            if name in notes:
                found[name] = notes[name]
    return found


def read_notes(text: str, schema: dict) -> dict:
    """String properties said as '<Label>: <note>', each note running to the next label."""
    labels = {name: _label(name).lower() for name, prop in (schema.get("properties") or {}).items()
              if "string" in _types(prop)}
    if not labels:
        return {}
    pattern = re.compile(r"\b(" + "|".join(re.escape(label) for label in labels.values()) + r"): ", re.IGNORECASE)
    marks = list(pattern.finditer(text))
    notes = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        name = next(n for n, label in labels.items() if label == mark.group(1).lower())
        note = text[mark.end():end].strip()
        if note and name not in notes:
            notes[name] = note
    return notes
