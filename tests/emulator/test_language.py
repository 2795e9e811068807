"""The emulator speaks the language its client names (generationConfig.speechConfig.languageCode,
where Pipecat's services put their `language`): espeak-ng's voice for it, and its own words
(improvised questions, follow-ups, fillers) from that language's table (emulator/language.py),
or none at all in a language it has no table for. No code: English, as before."""

import base64
import json

import pytest
from google.genai import types
from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame

from emulator.language import (ENGLISH, FRENCH, GERMAN, NO_OWN_WORDS, SPANISH, OwnWords, own_words_for,
                               speech_language)
from emulator.misbehaviour import (PREPARATION_LINE, SECOND_QUESTION, SKIPPED_TO_LINE, STALL_RECOVERY_LINE,
                                   paraphrase)
from emulator.script import (AGAIN, FOLLOW_UP_QUESTIONS, IMPROVISED_CLOSING, IMPROVISED_LINES, ROLE_FILLERS,
                             ScriptedExaminer, Silence, Speak, script_from_instruction)
from emulator.voice import ExaminerVoice, parse_voices, voice_for_language
from tests.emulator.test_cues import KNOCK, SPEECH, cue_config, records, user
from tests.emulator.test_tts import pipecat_tts, raw_post, speech_body
from tests.helpers import MODEL, receive_turn, sdk_client, send_answer
from viva.exam import wording

# A few lines of `espeak-ng --voices` (espeak-ng 1.51), so that the choice is tested on a known list.
LISTING = """Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  de              --/M      German             gmw/de
 2  en-gb           --/M      English_(Great_Britain) gmw/en           (en 2)
 5  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  en-gb-x-rp      --/M      English_(Received_Pronunciation) gmw/en-GB-x-rp       (en 4)
 5  es              --/M      Spanish_(Spain)    roa/es
 5  es-419          --/M      Spanish_(Latin_America) roa/es-419           (es-mx 6)
 5  fr-be           --/M      French_(Belgium)   roa/fr-BE            (fr 8)
 5  fr-fr           --/M      French_(France)    roa/fr               (fr 5)
 5  pt              --/M      Portuguese_(Portugal) roa/pt               (pt-pt 5)
 5  pt-br           --/M      Portuguese_(Brazil) roa/pt-BR            (pt 6)
 5  cmn             --/M      Chinese_(Mandarin,_latin_as_English) sit/cmn
"""
FR_LINE = "Bonjour. Où habitez-vous ?"


def config_in(exam, language: str | None) -> types.LiveConnectConfig:
    """A cue-driven client's config, speaking `language` (the SDK sends it as Pipecat's service
    does: setup.generationConfig.speechConfig.languageCode; test_pipecat_exchange.py has Pipecat's own)."""
    config = cue_config(exam)
    if language is None:
        return config
    return config.model_copy(update={"speech_config": types.SpeechConfig(language_code=language)})


def setup_record(server, session_id) -> dict:
    (setup,) = records(server, session_id, "setup")
    return setup


# ---- choosing -------------------------------------------------------------------------------

@pytest.mark.parametrize("code, voice", [
    ("fr-FR", "fr-fr"), ("fr-BE", "fr-be"), ("fr-CA", "fr-fr"), ("fr", "fr-fr"),  # region, else the main voice
    ("en-GB", "en-gb"), ("en-US", "en-us"), ("en-AU", "en-gb"), ("en", "en-gb"),
    ("es-ES", "es"), ("es-419", "es-419"), ("es-MX", "es"), ("de-DE", "de"), ("de-AT", "de"),
    ("pt-BR", "pt-br"), ("pt-PT", "pt"), ("cmn-CN", "cmn"), ("zh-CN", "cmn"), ("FR_fr", "fr-fr"),
    ("it-IT", None), ("xx-YY", None),  # none in this list
])
def test_a_language_code_gets_espeaks_voice_for_its_region_else_for_its_language(code, voice):
    assert voice_for_language(code, parse_voices(LISTING)) == voice


def test_the_installed_espeak_has_the_voices_of_the_languages_with_own_words():
    assert [voice_for_language(code) for code in ("fr-FR", "es-ES", "de-DE", "en-GB")] == ["fr-fr", "es", "de", "en-gb"]
    voice = ExaminerVoice()
    assert voice.voice_for(None) == "en-gb" and voice.voice_for("fr-FR") == "fr-fr"
    assert voice.voice_for("xx-YY") == "en-gb"  # no voice for it: the default one speaks the cued words
    assert ExaminerVoice(use_espeak=False).voice_for("fr-FR") is None  # the tone has no voice


@pytest.mark.parametrize("code, words", [
    (None, ENGLISH), ("en-GB", ENGLISH), ("en-US", ENGLISH), ("fr-FR", FRENCH), ("fr-CA", FRENCH),
    ("es-MX", SPANISH), ("de-DE", GERMAN), ("it-IT", NO_OWN_WORDS), ("ja-JP", NO_OWN_WORDS),
])
def test_own_words_are_chosen_by_the_language_subtag(code, words):
    assert own_words_for(code) is words


def test_every_table_has_every_kind_of_word_and_english_is_what_it_was():
    for words in (ENGLISH, FRENCH, SPANISH, GERMAN):
        for name in OwnWords.__dataclass_fields__:
            assert getattr(words, name) not in ("", ()), (words.language, name)
        assert len(words.role_fillers) > 1  # cycled: never the same filler twice in a row
    for name in OwnWords.__dataclass_fields__:
        if name != "lowercase_after_prefix":
            assert getattr(NO_OWN_WORDS, name) in (None, "", ())
    assert (IMPROVISED_LINES, IMPROVISED_CLOSING, FOLLOW_UP_QUESTIONS, AGAIN, ROLE_FILLERS) == (
        ("Hello, I am your examiner today. Where do you live?", "What do you like to do in your free time?"),
        "Thank you. That is the end of the test.",
        ("Can you tell me more about that?", "Why do you think that is?", "How do you feel about that?",
         "Can you give me an example?"),
        "Let me say that again.", ("I'm not sure, I'm afraid.", "No, nothing else I can think of."))
    assert STALL_RECOVERY_LINE.startswith("I'm here.") and SKIPPED_TO_LINE.startswith("Let's move on.")
    assert SECOND_QUESTION.startswith("And what else") and PREPARATION_LINE.startswith("Take your time.")


def test_the_code_is_read_where_the_sdk_and_pipecat_put_it():
    assert speech_language(types.GenerationConfig(speech_config=types.SpeechConfig(language_code=" fr-FR "))) == "fr-FR"
    assert speech_language(types.GenerationConfig(speech_config=types.SpeechConfig(language_code=""))) is None
    assert speech_language(types.GenerationConfig()) is None and speech_language(None) is None


# ---- the examiner's own words ------------------------------------------------------------------

def examiner_in(words: OwnWords, instruction: str = "You are an examiner.") -> ScriptedExaminer:
    lines, closing = script_from_instruction(instruction, words)
    return ScriptedExaminer(lines=lines, closing_phrase=closing, tools=("record_assessment",), own_words=words)


def test_a_french_examiner_improvises_follows_up_and_repeats_in_french():
    e = examiner_in(FRENCH)
    assert e.on_text() == Speak("Bonjour, je suis votre examinateur aujourd'hui. Où habitez-vous ?", line=0)
    assert e.on_text() == Speak("Je répète. Où habitez-vous ?")
    assert e.closing_phrase == "Merci. L'examen est terminé."
    cue = wording.cue(wording.say(FR_LINE), now=True)
    e.read_cue(cue)
    assert e.on_text() == Speak(FR_LINE, cue=cue)
    assert [e.on_turn(speech=True).text for _ in range(2)] == list(FRENCH.follow_up_questions[:2])
    assert e.on_text() == Speak("Je répète. Où habitez-vous ?")


def test_in_a_language_without_own_words_the_examiner_says_only_what_it_was_told():
    e = examiner_in(NO_OWN_WORDS)
    assert e.lines == [] and e.closing_phrase == ""
    assert e.on_text() == Silence() and e.on_turn(speech=True) == Silence()  # no script: nothing of its own
    cue = wording.cue(wording.say("Dove abita?"), now=True)
    e.read_cue(cue)
    assert e.on_text() == Speak("Dove abita?", cue=cue)
    assert e.on_turn(speech=True) == Silence()  # no follow-up question of its own
    assert e.on_text() == Speak("Dove abita?")  # a nudge: the question again, with no preamble
    e.read_cue(wording.cue(wording.call_for_assessment(["record_assessment"]), now=False))
    e.on_turn(speech=True)
    assert e.on_tool_result("record_assessment") == Silence()  # no closing was named, and it has none
    scripted = examiner_in(NO_OWN_WORDS, '1. Come si chiama?\nThen say exactly "Grazie."')
    assert scripted.on_text() == Speak("Come si chiama?", line=0)
    assert scripted.on_text() == Speak("Come si chiama?")


def test_a_paraphrase_opens_in_the_sessions_language():
    assert paraphrase("Où habitez-vous ?", own_words=FRENCH) == "Dites-moi, où habitez-vous ?"
    assert paraphrase("Wo wohnen Sie?", own_words=GERMAN) == "Sagen Sie mir: Wo wohnen Sie?"  # German keeps its case
    assert paraphrase("Where do you live?") == "Tell me, where do you live?"


# ---- over the wire ---------------------------------------------------------------------------

async def test_a_session_in_french_speaks_in_a_french_voice_and_improvises_in_french(emulator, exam):
    client = sdk_client(emulator, session_id="fr")
    async with client.aio.live.connect(model=MODEL, config=config_in(exam, "fr-FR")) as session:
        await session.send_client_content(turns=user(wording.cue(wording.say(FR_LINE), now=True)), turn_complete=True)
        cued = await receive_turn(session)
        await send_answer(session, SPEECH)
        follow_up = await receive_turn(session)
        await send_answer(session, KNOCK)
        await receive_turn(session)
    assert setup_record(emulator, "fr") | {"t_s": 0} == setup_record(emulator, "fr") | {
        "t_s": 0, "language": "fr-FR", "espeak_voice": "fr-fr", "own_words": "fr"}
    assert cued.text == FR_LINE and follow_up.text == FRENCH.follow_up_questions[0]
    voice = ExaminerVoice()
    french = await voice.synthesize(FR_LINE, voice="fr-fr")
    assert cued.audio == len(french) != len(await voice.synthesize(FR_LINE))  # the French voice, not the English
    assert emulator.sessions["fr"].espeak_voice == "fr-fr"


async def test_a_french_examiners_marks_give_their_evidence_in_french(emulator, exam):
    from tests.emulator.test_cues import ASSESS

    client = sdk_client(emulator, session_id="fr-marks")
    async with client.aio.live.connect(model=MODEL, config=config_in(exam, "fr-FR")) as session:
        await session.send_client_content(turns=user(wording.cue(wording.say(FR_LINE), now=True)), turn_complete=True)
        await receive_turn(session)
        await session.send_client_content(turns=user(ASSESS), turn_complete=False)
        await send_answer(session, SPEECH)
        called = await receive_turn(session)
    (call,) = called.tool_calls
    strings = [value for value in _leaves(call.args) if isinstance(value, str)]
    assert strings and set(strings) == {FRENCH.observation}, strings


def _leaves(value):
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


async def test_a_session_naming_no_language_speaks_english_as_before(emulator, exam):
    client = sdk_client(emulator, session_id="en")
    async with client.aio.live.connect(model=MODEL, config=config_in(exam, None)) as session:
        await session.send_realtime_input(text="Hello")
        greeting = await receive_turn(session)
    setup = setup_record(emulator, "en")
    assert (setup["language"], setup["espeak_voice"], setup["own_words"]) == (None, "en-gb", "en")
    assert greeting.text == IMPROVISED_LINES[0]
    assert greeting.audio == len(await ExaminerVoice().synthesize(IMPROVISED_LINES[0]))


async def test_a_session_in_a_language_without_own_words_says_the_cued_lines_and_nothing_else(emulator, exam):
    client = sdk_client(emulator, session_id="it")
    async with client.aio.live.connect(model=MODEL, config=config_in(exam, "it-IT")) as session:
        await session.send_realtime_input(text="Buongiorno")
        nothing = await receive_turn(session)
        await session.send_client_content(turns=user(wording.cue(wording.say("Dove abita?"), now=True)),
                                          turn_complete=True)
        cued = await receive_turn(session)
        await send_answer(session, SPEECH)
        after = await receive_turn(session)
    setup = setup_record(emulator, "it")
    assert (setup["language"], setup["espeak_voice"], setup["own_words"]) == ("it-IT", "it", None)
    assert nothing.text == "" and nothing.audio == 0 and nothing.turn_complete
    assert cued.text == "Dove abita?" and cued.audio > 0
    assert after.text == "" and after.audio == 0  # no follow-up of its own, in English or any language
    assert [s["text"] for s in records(emulator, "it", "speak")] == ["Dove abita?"]


# ---- the REST API's TTS -----------------------------------------------------------------------

async def test_a_tts_request_naming_a_language_is_said_in_its_voice(emulator):
    body = speech_body()
    body["contents"][0]["parts"][0]["text"] = "Merci. L'examen est terminé."
    body["generationConfig"]["speechConfig"]["languageCode"] = "fr-FR"
    status, _, text = await raw_post(emulator, "gemini-2.5-flash-preview-tts", body)
    assert status == 200
    audio = base64.b64decode(json.loads(text)["candidates"][0]["content"]["parts"][0]["inlineData"]["data"])
    voice = ExaminerVoice()
    assert audio == await voice.synthesize("Merci. L'examen est terminé.", voice="fr-fr")
    assert audio != await voice.synthesize("Merci. L'examen est terminé.")


async def test_pipecats_tts_service_in_french_is_said_in_the_french_voice_and_journaled(emulator, exam):
    live_client = sdk_client(emulator, session_id="closing")
    async with live_client.aio.live.connect(model=MODEL, config=config_in(exam, "fr-FR")) as live:
        await live.send_realtime_input(text="Bonjour")
        await receive_turn(live)
        frames = await pipecat_tts(emulator, model="gemini-3.8-flash-tts", voice="Charon", session_id="closing",
                                   language="fr-FR", text=FRENCH.improvised_closing)
    assert not [f for f in frames if isinstance(f, ErrorFrame)]
    audio = b"".join(f.audio for f in frames if isinstance(f, TTSAudioRawFrame))
    assert audio == await ExaminerVoice().synthesize(FRENCH.improvised_closing, voice="fr-fr")
    (line,) = records(emulator, "closing", "generate_speech")
    assert (line["language"], line["espeak_voice"], line["text"]) == ("fr-FR", "fr-fr", FRENCH.improvised_closing)
