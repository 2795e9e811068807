"""How the emulated model misbehaves, fault by fault (field-reports.md), as plain decisions.

`Misbehaviour` sits between the scripted examiner and the socket: it passes the
examiner's replies through, or stalls, delays, speaks results aloud, breaks tool
arguments or repeats the closing, as the session's FaultPlan says. Each fault that
fires is reported through `on_fault`, which the session writes to emulator.jsonl.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from emulator.faults import CUED_SPEECH_FAULTS, Fault, FaultPlan
from emulator.language import ENGLISH, OwnWords
from emulator.script import CallTools, ExaminerState, Reply, ScriptedExaminer, Silence, Speak, last_sentence

# The faults' own words come in the session's language (emulator/language.py); the English ones,
# by their older names. A language without own words has none, and the faults that need them
# do not fire (a stall comes back with the next line instead).
STALL_RECOVERY_LINE = ENGLISH.stall_recovery
SKIPPED_TO_LINE = ENGLISH.skipped_to  # skips_question
SECOND_QUESTION = ENGLISH.second_question  # two_questions
PREPARATION_LINE = ENGLISH.preparation  # speaks_during_preparation
PARAPHRASE_PREFIXES = ENGLISH.paraphrase_prefixes  # for questions, in turn
STATEMENT_PREFIX = ENGLISH.statement_prefix  # for a cued line that asks nothing
# paraphrases: common words a model says otherwise (one pass, whole words, case kept).
SYNONYMS = {"usually": "normally", "enjoy": "like", "think": "believe", "why": "for what reason",
            "often": "frequently", "favourite": "preferred", "kind": "sort", "important": "significant",
            "describe": "tell me about", "big": "large"}
# Words that carry no content, for content_words().
_FUNCTION_WORDS = frozenset("""
a an the and or but if so of to in on at by for with from about as into than then there here this that these
those it its is are was were be been being am do does did doing have has had having i me my you your yours
we our us they them their he him his she her what which who whom whose when where why how not no yes can
could would should will shall may might must just very too also some any all more most other such own
""".split())


def content_words(text: str) -> list[str]:
    """The words of text that carry its content (lower case, in order): what a tolerant
    matcher compares, for paraphrase()'s bound."""
    return [w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _FUNCTION_WORDS]


def paraphrase(text: str, *, prefix: str | None = None, keep: float = 2 / 3, own_words: OwnWords = ENGLISH) -> str:
    """The cued line in other words, as a model paraphrases it: the earlier sentences as
    they are, the last one (the question) behind a prefix ("Tell me, ...", in the language of
    own_words), with common English words swapped by SYNONYMS so long as at least `keep` of
    its content words stay."""
    text = " ".join(text.split())
    question = last_sentence(text)
    before = text[: len(text) - len(question)]
    wanted = content_words(question)
    swapped = question
    for match in reversed(list(re.finditer(r"[A-Za-z']+", question))):
        other = SYNONYMS.get(match.group(0).lower())
        if other is None:
            continue
        if match.group(0)[0].isupper():
            other = other[0].upper() + other[1:]
        trial = swapped[: match.start()] + other + swapped[match.end():]
        kept = set(content_words(trial))
        if wanted and sum(w in kept for w in wanted) / len(wanted) < keep:
            continue
        swapped = trial
    if prefix is None:
        prefix = own_words.paraphrase_prefixes[0] if question.endswith("?") else own_words.statement_prefix
    first = swapped.split(" ", 1)[0]
    if own_words.lowercase_after_prefix and not (first == "I" or first.startswith("I'")):
        swapped = swapped[:1].lower() + swapped[1:]
    return f"{before}{prefix}{swapped}"


@dataclass(frozen=True)
class Nothing:
    """No output at all: not even an empty turn (the model is waiting)."""


@dataclass(frozen=True)
class SpeakThenCall:
    """Says text, then calls the tools in the same turn."""

    text: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class CallWithBadArguments:
    names: tuple[str, ...]


@dataclass
class _Stall:
    fault: Fault
    windows_left: int  # speech windows still ignored
    nudges_to_ignore: int
    recovery: Reply | None  # what it says when it comes back (None: the script's next line)


def number_words(value: float) -> str:
    """6.5 -> 'six point five', as a model says a band aloud."""
    ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    whole, fraction = int(value), round(value - int(value), 2)
    text = ones[whole] if 0 <= whole <= 10 else str(whole)
    if fraction:
        text += " point " + " ".join(ones[int(d)] for d in f"{fraction:.2f}"[2:].rstrip("0"))
    return text


def spoken_result(arguments: dict) -> str:
    """The tool's arguments said aloud, every one of them, as a model reads out its assessment.

    The marks come first in one sentence, then each other argument; an object such as
    evidence is introduced by its name, says its fields one by one and closes with
    "End of <name>." so a listener (viva's transcript parser) knows where its last note ends:
    'I would give fluency coherence a six point five, ..., and overall band a seven.
    Evidence. Fluency coherence: <note> ... Pronunciation: <note> End of evidence.'
    """
    marks = [(name, value) for name, value in arguments.items() if _is_number(value)]
    sentences = []
    if marks:
        said = [f"{_label(name)} a {number_words(value)}" for name, value in marks]
        listing = ", ".join(said[:-1]) + f", and {said[-1]}" if len(said) > 1 else said[0]
        sentences.append(f"I would give {listing}.")
    sentences += [_spoken_field(name, value) for name, value in arguments.items() if not _is_number(value)]
    sentences = [s for s in sentences if s]
    return " ".join(sentences) if sentences else "I have recorded my assessment."


def _is_number(value) -> bool:
    # bool is an int in Python, but a model says a flag as yes or no, not as a mark.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label(name: str) -> str:
    """'fluency_coherence' -> 'fluency coherence': a name as it is said."""
    return name.replace("_", " ")


def _spoken_field(name: str, value) -> str:
    """One argument as a sentence (or a few, for an object); '' when there is nothing to say."""
    label = _label(name).capitalize()
    if value is None or (isinstance(value, (str, list, dict)) and not value):
        return ""
    if isinstance(value, dict):
        inner = " ".join(s for s in (_spoken_field(k, v) for k, v in value.items()) if s)
        return f"{label}. {inner} End of {_label(name)}." if inner else ""
    if isinstance(value, bool):
        return f"{label}: {'yes' if value else 'no'}."
    if _is_number(value):
        return f"{label}: {number_words(value)}."
    if isinstance(value, list):
        return f"{label}: {_sentence(', '.join(_spoken_item(item) for item in value))}"
    return f"{label}: {_sentence(str(value))}"


def _spoken_item(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return number_words(value) if _is_number(value) else str(value)


def _sentence(text: str) -> str:
    """The text as a spoken sentence: its own full stops kept, one added if it has none at the end."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


class Misbehaviour:
    """Applies the session's faults to the examiner's replies.

    Args:
        examiner: the scripted examiner.
        plan: the session's faults.
        on_fault: called with (fault kind, fields) whenever a fault fires.
    """

    def __init__(
        self,
        examiner: ScriptedExaminer,
        plan: FaultPlan,
        on_fault: Callable[..., None],
        spoken_results: dict[str, dict] | None = None,
    ):
        self.examiner = examiner
        self.plan = plan
        self._on_fault = on_fault
        self.turn = 0  # candidate turns: windows that held speech
        self._last_window_speech = False
        self._state_before_reply: ExaminerState | None = None
        self.stall: _Stall | None = None
        self._paraphrases = 0
        # Tool name -> the arguments said aloud instead of (or beside) the call.
        self.spoken_results: dict[str, dict] = {} if spoken_results is None else spoken_results

    def on_window(self, *, speech: bool) -> Reply | Nothing:
        """The reply to a completed activity window."""
        previous_speech, self._last_window_speech = self._last_window_speech, speech
        if speech:
            self.turn += 1
        if self.stall is not None:
            return self._while_stalled(speech=speech)
        if not speech and previous_speech:
            fault = self.plan.fires("stall_after_empty_window", turn=self.turn)
            if fault:
                # The model drops the answer it was giving and waits, silent.
                if self._state_before_reply is not None:
                    # A cue the client sent since that answer is kept: the newest note wins.
                    newer = self.examiner.state.pending_cue
                    self.examiner.state = self._state_before_reply
                    if newer is not None:
                        self.examiner.state = dataclasses.replace(self.examiner.state, pending_cue=newer)
                recovery = self._own_words.stall_recovery
                self.stall = _Stall(fault, fault.answers_after, fault.ignores_nudges,
                                    Speak(recovery) if recovery else None)
                self._on_fault("stall_after_empty_window", turn=self.turn, answers_after=fault.answers_after)
                return Nothing()
        if speech:
            fault = self.plan.fires("stall", turn=self.turn)
            if fault:
                self.stall = _Stall(fault, 1, fault.ignores_nudges, None)
                self._on_fault("stall", turn=self.turn, ignores_nudges=fault.ignores_nudges)
                return Nothing()
        self._state_before_reply = self.examiner.state
        return self.examiner.on_turn(speech=speech)

    def on_text(self) -> Reply | Nothing:
        """A text prompt: a nudge, if the model is stalled."""
        if self.stall is None:
            return self.examiner.on_text()
        if self.stall.nudges_to_ignore > 0:
            self.stall.nudges_to_ignore -= 1
            self._on_fault(self.stall.fault.kind, nudge_ignored=True, turn=self.turn)
            return Nothing()
        return self._recover()

    def _while_stalled(self, *, speech: bool) -> Reply | Nothing:
        if not speech:
            return Nothing()
        self.stall.windows_left -= 1
        if self.stall.windows_left > 0:
            return Nothing()
        return self._recover()

    def _recover(self) -> Reply:
        stall, self.stall = self.stall, None
        self._on_fault(stall.fault.kind, recovered=True, turn=self.turn)
        if stall.recovery is not None:
            return stall.recovery
        self._state_before_reply = self.examiner.state
        return self.examiner.on_turn(speech=True)

    def delay_for(self, reply: Reply) -> float:
        """Seconds the model takes before it starts this reply (slow_response)."""
        if isinstance(reply, (Silence, Nothing)):
            return 0.0
        fault = self.plan.fires("slow_response", turn=self.turn)
        if fault:
            self._on_fault("slow_response", turn=self.turn, delay_s=fault.delay_s)
            return fault.delay_s
        return 0.0

    def shape(self, reply: Reply, *, example_arguments: Callable[[str], dict]) -> Reply | SpeakThenCall | CallWithBadArguments:
        """The reply as the misbehaving model gives it: tool and closing faults."""
        if isinstance(reply, CallTools):
            if self.plan.fires("speak_instead_of_tool_call", turn=self.turn):
                text = self._say_results(reply.names, example_arguments)
                self._on_fault("speak_instead_of_tool_call", tools=list(reply.names))
                # It believes it is done: the result said aloud, then the closing (if it has one), and no call.
                closing = self.examiner.close()
                return Speak(f"{text} {closing.text}" if isinstance(closing, Speak) else text)
            if self.plan.fires("tool_call_and_speak", turn=self.turn):
                text = self._say_results(reply.names, example_arguments)
                self._on_fault("tool_call_and_speak", tools=list(reply.names))
                return SpeakThenCall(text, reply.names)
            if self.plan.fires("bad_tool_args", turn=self.turn):
                self._on_fault("bad_tool_args", tools=list(reply.names))
                return CallWithBadArguments(reply.names)
        if isinstance(reply, Speak) and reply.cued and reply.text != self.examiner.closing_phrase:
            reply = self.cued_speech(reply)
        if isinstance(reply, Speak) and reply.text == self.examiner.closing_phrase:
            fault = self.plan.fires("repeat_closing", turn=self.turn)
            if fault:
                self._on_fault("repeat_closing", extra_text=fault.extra_text)
                return Speak(f"{reply.text} {reply.text} {fault.extra_text}".strip())
        return reply

    def cued_speech(self, reply: Speak) -> Speak:
        """A cued turn as the misbehaving model says it: at most one of the cue faults
        (ignores_cue, skips_question, reads_cue_aloud, paraphrases, two_questions)."""
        words = self._own_words
        for kind in CUED_SPEECH_FAULTS:
            if not self._has_words_for(kind) or not self.plan.fires(kind, turn=self.turn):
                continue
            if kind == "ignores_cue":
                said = Speak(self.examiner.improvise())
            elif kind == "skips_question":
                said = Speak(words.skipped_to)
            elif kind == "reads_cue_aloud":
                said = Speak(" ".join(reply.cue.split()), cue=reply.cue)
            elif kind == "paraphrases":
                prefix = None
                if last_sentence(reply.text).endswith("?"):
                    prefix = words.paraphrase_prefixes[self._paraphrases % len(words.paraphrase_prefixes)]
                    self._paraphrases += 1
                said = Speak(paraphrase(reply.text, prefix=prefix, own_words=words), cue=reply.cue)
            else:
                said = Speak(f"{reply.text} {words.second_question}", cue=reply.cue)
            self._on_fault(kind, turn=self.turn, cued=reply.text, said=said.text)
            return said
        return reply

    @property
    def _own_words(self) -> OwnWords:
        return self.examiner.own_words

    def _has_words_for(self, kind: str) -> bool:
        """Whether the session's language has the words a fault says of its own (reading the
        cue aloud needs none; the others do)."""
        words = self._own_words
        needed = {"ignores_cue": words.follow_up_questions, "skips_question": words.skipped_to,
                  "paraphrases": words.paraphrase_prefixes and words.statement_prefix,
                  "two_questions": words.second_question, "speaks_during_preparation": words.preparation}
        return bool(needed.get(kind, True))

    def preparation_idle_s(self) -> float | None:
        """speaks_during_preparation: the client's silence (s) after which the idle model
        speaks, if such a fault may still fire at this turn (and the session's language has
        its words); None otherwise."""
        if not self._has_words_for("speaks_during_preparation"):
            return None
        faults = self.plan.could_fire("speaks_during_preparation", turn=self.turn)
        return min(f.after_s for f in faults) if faults else None

    def speaks_unprompted(self, idle_s: float) -> Speak | None:
        """The client has been silent idle_s since the examiner's turn: the unprompted turn,
        when speaks_during_preparation fires (the examiner's state, its pending cue
        included, is untouched)."""
        fault = self.plan.fires("speaks_during_preparation", turn=self.turn)
        if fault is None:
            return None
        line = self._own_words.preparation
        self._on_fault("speaks_during_preparation", turn=self.turn, idle_s=idle_s, said=line)
        return Speak(line)

    def _say_results(self, names: tuple[str, ...], example_arguments: Callable[[str], dict]) -> str:
        """The results said aloud, remembered in spoken_results (for the tests: what was said)."""
        spoken = {name: example_arguments(name) for name in names}
        self.spoken_results.update(spoken)
        return " ".join(spoken_result(arguments) for arguments in spoken.values())

    def forced_arguments(self, name: str) -> dict | None:
        """tool_args: the arguments a fault forces on this call of name (None: none fires)."""
        fault = self.plan.fires("tool_args", turn=self.turn, tool=name)
        if fault is None:
            return None
        self._on_fault("tool_args", turn=self.turn, tool=name, args=fault.args)
        return fault.args

    def on_tool_error(self, name: str) -> CallTools | CallWithBadArguments:
        """The client answered a call with an error: the model tries again."""
        if self.plan.fires("bad_tool_args", turn=self.turn):
            self._on_fault("bad_tool_args", tools=[name], retry=True)
            return CallWithBadArguments((name,))
        return CallTools((name,))
