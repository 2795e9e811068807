"""The language a session speaks: the code the client named, and the emulated model's own words in it.

A client names the language of the model's speech in `generationConfig.speechConfig.languageCode`
(a BCP-47 code such as en-GB or fr-FR): Pipecat's GeminiLiveLLMService puts its `language`
setting there in the Live setup, and its GeminiTTSService in a TTS request
(google-genai's SpeechConfig.language_code). No code: English, as before.

Everything the emulator says was cued, scripted or is the brief of a role, except the few
words it makes up itself: the greeting and questions of a model with no script, follow-up
questions, "let me say that again", fillers in a role, and its faults' lines. Those are
here, one table per language, chosen by the code's language subtag. A language without a
table gets NO_OWN_WORDS: the model says only what it was told (a question repeated without
a preamble) and is otherwise silent, rather than speak English in a French session.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.genai import types


@dataclass(frozen=True)
class OwnWords:
    """The words the emulated model makes up itself, in one language ('' or (): none)."""

    language: str | None  # the language subtag of the table (None: a language with no table)
    improvised_lines: tuple[str, ...] = ()  # a model with no script: its greeting and question
    improvised_closing: str = ""  # its closing, when the instruction names none
    follow_up_questions: tuple[str, ...] = ()  # cue mode, nothing cued for this turn (cycled)
    again: str = ""  # said before a question asked again
    role_fillers: tuple[str, ...] = ()  # in a role, once the brief's facts are all told (cycled)
    # The faults' own words (emulator/misbehaviour.py).
    stall_recovery: str = ""  # stall_after_empty_window: what it says when it comes back
    skipped_to: str = ""  # skips_question: the question it asks instead of the cued one
    second_question: str = ""  # two_questions: the question it adds
    preparation: str = ""  # speaks_during_preparation
    paraphrase_prefixes: tuple[str, ...] = ()  # paraphrases: before a question, in turn
    statement_prefix: str = ""  # paraphrases: before a cued line that asks nothing
    lowercase_after_prefix: bool = True  # False where case carries meaning (German nouns, "Sie")
    observation: str = ""  # what a string field of its tool calls says (a mark's evidence)


ENGLISH = OwnWords(
    "en",
    improvised_lines=("Hello, I am your examiner today. Where do you live?",
                      "What do you like to do in your free time?"),
    improvised_closing="Thank you. That is the end of the test.",
    follow_up_questions=("Can you tell me more about that?", "Why do you think that is?",
                         "How do you feel about that?", "Can you give me an example?"),
    again="Let me say that again.",
    role_fillers=("I'm not sure, I'm afraid.", "No, nothing else I can think of."),
    stall_recovery="I'm here. Just waiting for your complete answer. Were you finished?",
    skipped_to="Let's move on. What is your favourite kind of food?",
    second_question="And what else would you like to tell me about that?",
    preparation="Take your time. You can start whenever you are ready.",
    paraphrase_prefixes=("Tell me, ", "I'd like to know: "),
    statement_prefix="So, ",
    observation="Observed consistently across the candidate's answers.",
)
FRENCH = OwnWords(
    "fr",
    improvised_lines=("Bonjour, je suis votre examinateur aujourd'hui. Où habitez-vous ?",
                      "Qu'aimez-vous faire pendant votre temps libre ?"),
    improvised_closing="Merci. L'examen est terminé.",
    follow_up_questions=("Pouvez-vous m'en dire plus ?", "Pourquoi pensez-vous cela ?",
                         "Qu'en pensez-vous ?", "Pouvez-vous me donner un exemple ?"),
    again="Je répète.",
    role_fillers=("Je ne sais pas trop.", "Non, je ne vois rien d'autre."),
    stall_recovery="Je suis là. J'attends la fin de votre réponse. Avez-vous terminé ?",
    skipped_to="Passons à autre chose. Quel est votre plat préféré ?",
    second_question="Et qu'aimeriez-vous me dire d'autre à ce sujet ?",
    preparation="Prenez votre temps. Vous pouvez commencer quand vous voulez.",
    paraphrase_prefixes=("Dites-moi, ", "J'aimerais savoir : "),
    statement_prefix="Donc, ",
    observation="Constaté de façon régulière dans les réponses du candidat.",
)
SPANISH = OwnWords(
    "es",
    improvised_lines=("Hola, hoy soy su examinador. ¿Dónde vive usted?",
                      "¿Qué le gusta hacer en su tiempo libre?"),
    improvised_closing="Gracias. Aquí termina el examen.",
    follow_up_questions=("¿Puede contarme algo más sobre eso?", "¿Por qué piensa eso?",
                         "¿Qué opina de eso?", "¿Puede darme un ejemplo?"),
    again="Se lo repito.",
    role_fillers=("No estoy seguro, la verdad.", "No, no se me ocurre nada más."),
    stall_recovery="Sigo aquí. Espero su respuesta completa. ¿Ha terminado?",
    skipped_to="Pasemos a otra cosa. ¿Cuál es su comida favorita?",
    second_question="¿Y qué más le gustaría contarme sobre eso?",
    preparation="Tómese su tiempo. Puede empezar cuando quiera.",
    paraphrase_prefixes=("Dígame, ", "Me gustaría saber: "),
    statement_prefix="Entonces, ",
    observation="Observado de forma constante en las respuestas del candidato.",
)
GERMAN = OwnWords(
    "de",
    improvised_lines=("Guten Tag, ich bin heute Ihr Prüfer. Wo wohnen Sie?",
                      "Was machen Sie gern in Ihrer Freizeit?"),
    improvised_closing="Vielen Dank. Damit ist die Prüfung beendet.",
    follow_up_questions=("Können Sie mir mehr darüber erzählen?", "Warum denken Sie das?",
                         "Was halten Sie davon?", "Können Sie mir ein Beispiel geben?"),
    again="Ich wiederhole.",
    role_fillers=("Da bin ich mir nicht sicher.", "Nein, sonst fällt mir nichts ein."),
    stall_recovery="Ich bin noch da. Ich warte auf Ihre vollständige Antwort. Sind Sie fertig?",
    skipped_to="Machen wir weiter. Was ist Ihr Lieblingsessen?",
    second_question="Und was möchten Sie mir sonst noch dazu sagen?",
    preparation="Lassen Sie sich Zeit. Sie können beginnen, wann Sie möchten.",
    paraphrase_prefixes=("Sagen Sie mir: ", "Ich möchte gern wissen: "),
    statement_prefix="Also: ",
    lowercase_after_prefix=False,  # "Ihr" is "your", "ihr" is "her": the case stays
    observation="Durchgehend in den Antworten des Kandidaten beobachtet.",
)
NO_OWN_WORDS = OwnWords(None)
_TABLES = {words.language: words for words in (ENGLISH, FRENCH, SPANISH, GERMAN)}


def language_subtag(code: str | None) -> str | None:
    """The language of a BCP-47 code, lower case ("fr-FR" -> "fr"); None for no code."""
    subtag = (code or "").strip().replace("_", "-").split("-")[0].lower()
    return subtag or None


def own_words_for(code: str | None) -> OwnWords:
    """The table for a language code: English when none is named, NO_OWN_WORDS for a
    language the emulator has no table for."""
    subtag = language_subtag(code)
    return ENGLISH if subtag is None else _TABLES.get(subtag, NO_OWN_WORDS)


def speech_language(config: types.GenerationConfig | None) -> str | None:
    """The language code a generationConfig names for speech (a Live setup's, a TTS request's), or None."""
    speech = config.speech_config if config is not None else None
    code = speech.language_code if speech is not None else None
    return code.strip() if code and code.strip() else None
