"""parse_result reads back what the emulator's spoken_result says, through the noise a
streaming transcript adds, and is driven by the schema alone."""

import random
import re

import pytest

from emulator.misbehaviour import number_words, spoken_result
from emulator.toolargs import example_arguments, schema_errors
from tests.conftest import ROOT
from viva.config import load_config
from viva.transcript_parser import parse_result

SCHEMA = next(t for t in load_config(ROOT / "configs/ielts_speaking.yaml").exam.tools
              if t.name == "record_assessment").parameters
CLOSING = "Thank you. That is the end of the Speaking test."
SEEDS = range(8)
# Notes with their own full stops, colons, quotes and question marks, as a model might say them.
PUNCTUATED_NOTES = {
    "fluency_coherence": "Speaks at length. Some hesitation, e.g. 'erm... well'; mostly coherent.",
    "lexical_resource": "Wide range: idioms, collocations! Rare slips (e.g. 'make a photo').",
    "grammatical_range_accuracy": "Mix of simple and complex forms. Errors are few? Mostly.",
    "pronunciation": "Clear, L1 accent at times - never impedes",
}


def seeded(seed: int, notes: dict | None = None) -> dict:
    args = example_arguments(SCHEMA, random.Random(seed))
    if notes:
        args["evidence"] = dict(notes)
    return args


def loosely(value):
    """Strings reduced to their letters and digits: what survives case and punctuation changes."""
    if isinstance(value, dict):
        return {k: loosely(v) for k, v in value.items()}
    return re.sub(r"[^a-z0-9]", "", value.lower()) if isinstance(value, str) else value


def streaming_noise(text: str) -> str:
    """Pieces joined as streaming transcription joins them: spaces moved, doubled or missing."""
    text = text.replace(", ", " ,").replace(": ", " :").replace(". ", " .", 3)
    text = text.replace(" point ", "point ", 2).replace(" a ", "  a", 2)
    return text.replace(". ", ".").replace("band a", "banda")


@pytest.mark.parametrize("seed", SEEDS)
def test_seeded_results_round_trip(seed):
    args = seeded(seed)
    parsed = parse_result(spoken_result(args), SCHEMA)
    assert parsed == args and schema_errors(SCHEMA, parsed) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_notes_with_their_own_full_stops_round_trip_exactly(seed):
    args = seeded(seed, PUNCTUATED_NOTES)
    parsed = parse_result(f"{spoken_result(args)} {CLOSING}", SCHEMA)
    # A note said without a closing full stop is heard with one.
    assert parsed == args | {"evidence": PUNCTUATED_NOTES | {"pronunciation": PUNCTUATED_NOTES["pronunciation"] + "."}}
    assert schema_errors(SCHEMA, parsed) == []


@pytest.mark.parametrize("ending", [" End of evidence.", ""], ids=["with its end", "without its end"])
def test_a_note_that_mentions_other_criteria_stays_whole(ending):
    notes = PUNCTUATED_NOTES | {"fluency_coherence": "Better than her lexical resource. Pronunciation helps too.",
                                "pronunciation": "Clear, L1 accent at times."}
    args = seeded(1, notes)
    text = spoken_result(args).replace(" End of evidence.", ending)
    assert parse_result(text, SCHEMA) == args


@pytest.mark.parametrize("notes", [None, PUNCTUATED_NOTES], ids=["seeded notes", "punctuated notes"])
@pytest.mark.parametrize("garble", [
    str.lower,
    lambda text: re.sub(r"[^\w\s]", "", text),
    streaming_noise,
    lambda text: streaming_noise(text.lower()),
], ids=["lower-cased", "punctuation stripped", "spacing noise", "lower-cased with spacing noise"])
@pytest.mark.parametrize("seed", SEEDS)
def test_garbled_transcripts_keep_every_mark_and_the_words_of_every_note(seed, notes, garble):
    args = seeded(seed, notes)
    parsed = parse_result(garble(f"{spoken_result(args)} {CLOSING}"), SCHEMA)
    assert loosely(parsed) == loosely(args) and schema_errors(SCHEMA, parsed) == []


def test_spacing_noise_leaves_clean_notes():
    notes = PUNCTUATED_NOTES | {"lexical_resource": "Wide range: idioms, collocations; phrasal verbs. Rare slips!"}
    args = seeded(2, notes) | {"fluency_coherence": 6.5}
    text = streaming_noise(f"{spoken_result(args)} {CLOSING}")
    assert "asixpoint five ,lexical" in text and "range :idioms ,collocations" in text
    parsed = parse_result(text, SCHEMA)
    assert parsed["evidence"]["lexical_resource"] == notes["lexical_resource"]
    assert {k: v for k, v in parsed.items() if k != "evidence"} == {k: v for k, v in args.items() if k != "evidence"}


def test_a_mark_corrected_in_place_is_the_last_one_said():
    args = seeded(3) | {"fluency_coherence": 6.5}
    said, corrected = "fluency coherence a six point five", "fluency coherence a six, sorry, a six point five"
    text = spoken_result(args).replace(said, corrected)
    assert "sorry" in text
    assert parse_result(text, SCHEMA) == args


def test_a_mark_said_again_later_is_the_one_taken():
    args = seeded(4)
    text = spoken_result(args).replace(" Evidence.", " Sorry, lexical resource a seven. Evidence.")
    assert parse_result(text, SCHEMA) == args | {"lexical_resource": 7.0}


@pytest.mark.parametrize("seed", SEEDS)
def test_chatter_before_and_after_is_ignored(seed):
    args = seeded(seed)
    text = (
        "Thank you. That is the last question. As evidenced by your answers, you were well prepared, "
        f"and that brings us to the end of part three. {spoken_result(args)} {CLOSING}"
    )
    assert parse_result(text, SCHEMA) == args


def test_a_model_s_own_phrasing_with_digits_halves_and_fuller_names():
    text = (
        "Thank you. Here is my assessment. Fluency and Coherence: 6.5. Lexical resource: six and a half. "
        "Grammatical range and accuracy, seven. Pronunciation: 6. Overall band: 6.5.\n"
        "Evidence: for fluency and coherence, long answers with some repetition. Lexical resource: "
        "good range of topic vocabulary. Grammatical range and accuracy: complex sentences, few errors. "
        "Pronunciation: easy to follow throughout. Thank you. That is the end of the Speaking test."
    )
    parsed = parse_result(text, SCHEMA)
    assert parsed == {
        "fluency_coherence": 6.5, "lexical_resource": 6.5, "grammatical_range_accuracy": 7.0,
        "pronunciation": 6.0,  # the overall band said aloud is not a property of the tool: not read
        "evidence": {
            "fluency_coherence": "long answers with some repetition.",
            "lexical_resource": "good range of topic vocabulary.",
            "grammatical_range_accuracy": "complex sentences, few errors.",
            "pronunciation": "easy to follow throughout.",
        },
    }
    assert schema_errors(SCHEMA, parsed) == []


@pytest.mark.parametrize("text", [
    CLOSING,
    "",
    "Now let's talk about free time. What do you usually do at the weekend?",
    "I have recorded my assessment. " + CLOSING,
])
def test_no_assessment_is_none(text):
    assert parse_result(text, SCHEMA) is None


def test_a_partial_result_has_only_what_was_said_and_fails_validation():
    text = f"I would give fluency coherence a six point five, and lexical resource a seven. {CLOSING}"
    parsed = parse_result(text, SCHEMA)
    assert parsed == {"fluency_coherence": 6.5, "lexical_resource": 7.0}
    errors = schema_errors(SCHEMA, parsed)
    assert errors and any("pronunciation" in e for e in errors) and any("evidence" in e for e in errors)


def test_a_partial_evidence_fails_validation():
    args = seeded(5)
    text = spoken_result(args).replace("Pronunciation: Observed consistently across the candidate's answers. ", "")
    parsed = parse_result(text, SCHEMA)
    assert "pronunciation" not in parsed["evidence"] and parsed["pronunciation"] == args["pronunciation"]
    assert schema_errors(SCHEMA, parsed)


TINY = {
    "type": "object",
    "properties": {
        "attempts": {"type": "integer", "minimum": 1, "maximum": 30},
        "passed": {"type": "boolean"},
        "comment": {"type": "string", "minLength": 1},
    },
    "required": ["attempts", "passed", "comment"],
}


@pytest.mark.parametrize("args", [
    {"attempts": 3, "passed": True, "comment": "Fine. Needs practice with numbers."},
    {"attempts": 21, "passed": False, "comment": "Ran out of time."},
])
def test_any_schema_drives_it(args):
    parsed = parse_result(f"{spoken_result(args)} {CLOSING}", TINY)
    assert parsed == args and type(parsed["attempts"]) is int and schema_errors(TINY, parsed) == []


def test_any_schema_drives_it_in_a_model_s_own_words():
    text = "OK. Attempts, twenty one. Passed? No. Comment - ran out of time. Thank you."
    assert parse_result(text, TINY) == {"attempts": 21, "passed": False, "comment": "ran out of time."}
    assert parse_result("The candidate passed the exam.", TINY) is None


@pytest.mark.parametrize(("said", "value"), [
    ("six point five", 6.5), ("6.5", 6.5), ("six and a half", 6.5), ("seven", 7.0), ("sixpoint five", 6.5),
    ("a band of 8", 8.0), ("twenty one", 21.0), ("4 point 5", 4.5), ("six, no, seven", 7.0),
])
def test_numbers_as_said(said, value):
    assert parse_result(f"Pronunciation {said}. {CLOSING}", SCHEMA) == {"pronunciation": value}


def test_number_words_are_what_spoken_result_says():
    for band in (v / 2 for v in range(19)):
        assert parse_result(f"pronunciation {number_words(band)}", SCHEMA) == {"pronunciation": band}


def test_evidence_said_before_the_marks():
    text = (
        "Evidence. Fluency and coherence: two long pauses. Lexical resource: varied. "
        "Grammatical range and accuracy: some errors. Pronunciation: clear. Fluency and coherence six point five, "
        "lexical resource seven, grammatical range and accuracy six, pronunciation seven, overall band six point five."
    )
    parsed = parse_result(text, SCHEMA)
    assert parsed["evidence"] == {"fluency_coherence": "two long pauses.", "lexical_resource": "varied.",
                                  "grammatical_range_accuracy": "some errors.", "pronunciation": "clear."}
    assert schema_errors(SCHEMA, parsed) == []


def test_a_note_with_a_digit_in_a_word_is_not_a_mark():
    args = seeded(6, PUNCTUATED_NOTES | {"pronunciation": "Clear, L1 accent at times."})
    text = spoken_result(args).replace(" End of evidence.", "")
    assert parse_result(text, SCHEMA) == args
