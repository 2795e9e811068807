"""What each Live model generation accepts, answers and refuses: the one place that knows.

The wire code (emulator/session.py) asks `model_for(name)` for the generation a setup
names and then asks that generation, never the model name. Each rule carries its source
in the README's table ("The Live API emulator"): Google's documentation [D], the SDK's
types [S], a field report [T], or our own reading where nothing says [U].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.wire import INTERNAL, INVALID_ARGUMENT, POLICY, ProtocolError

# Ids as the Developer API and Vertex list them for bidiGenerateContent.
_NATIVE_AUDIO_25 = (
    "gemini-2.5-flash-native-audio-preview-09-2025",
    "gemini-2.5-flash-native-audio-preview-12-2025",
    "gemini-2.5-flash-native-audio-latest",
    "gemini-2.5-flash-preview-native-audio-dialog",
    "gemini-2.5-flash-exp-native-audio-thinking-dialog",
    "gemini-live-2.5-flash-native-audio",  # Vertex
    "gemini-live-2.5-flash-preview-native-audio-09-2025",  # Vertex
)
_HALF_CASCADE_25 = (
    "gemini-live-2.5-flash-preview",
    "gemini-live-2.5-flash",  # Vertex
    "gemini-2.0-flash-live-001",
    "gemini-2.0-flash-live-preview-04-09",
)

# A setup asking for TEXT from a model that speaks only (field reports: livekit #4103, cookbook #793).
_AUDIO_ONLY = (INVALID_ARGUMENT, "Cannot extract voices from a non-audio request.")


@dataclass(frozen=True)
class ModelGeneration:
    """One generation of Live models, as the service behaves for it.

    modalities: response modalities it can answer in; asking another closes with
        text_refusal.
    thinking: "budget" (2.5: thinkingBudget), "level" (3.1: thinkingLevel, any),
        "none" (3.8 live: a thinking level is refused), "level_not_minimal".
    default_behavior: how a function declaration without `behavior` runs.
    blocking_allowed: whether a BLOCKING declaration is accepted.
    non_blocking: whether NON_BLOCKING calls run asynchronously (scheduling honoured);
        where False, every call blocks whatever it is declared.
    cancel_blocking_on_input: new input while a blocking call is pending cancels it.
    initial_history: honours historyConfig.initialHistoryInClientContent: client
        content before the first realtime input is history, answered by nobody.
    proactive_audio: "optional", "unsupported" or "always" (false refused).
    affective_dialog: whether enableAffectiveDialog is accepted.
    empty_server_content: sends `{"serverContent": {}}` as a turn starts and puts the
        usage on it, with `usageMetadata: {}` on turnComplete (3.1 traces).
    interaction_status: sends interactionStatus IDLE on turnComplete.
    """

    name: str
    models: tuple[str, ...]
    modalities: frozenset[str] = frozenset({"AUDIO"})
    text_refusal: tuple[int, str] = _AUDIO_ONLY
    thinking: str = "budget"
    default_behavior: str = "BLOCKING"
    blocking_allowed: bool = True
    non_blocking: bool = True
    cancel_blocking_on_input: bool = False
    initial_history: bool = False
    proactive_audio: str = "optional"
    affective_dialog: bool = True
    empty_server_content: bool = False
    interaction_status: bool = False

    def check_setup(self, setup) -> None:
        """Raises ProtocolError for what this generation refuses in a setup."""
        config = setup.generation_config
        modalities = [str(getattr(m, "value", m)).upper() for m in (config.response_modalities or [])] if config else []
        if len(modalities) > 1:
            raise ProtocolError(INVALID_ARGUMENT, "Error in program Instantiation for language")
        if modalities and modalities[0] not in self.modalities:
            raise ProtocolError(*self.text_refusal)
        thinking = config.thinking_config if config else None
        level = str(getattr(thinking.thinking_level, "value", thinking.thinking_level) or "").upper() if thinking else ""
        if self.thinking == "none" and thinking is not None and (level or thinking.thinking_budget is not None):
            raise ProtocolError(INVALID_ARGUMENT, "thinking_level is not supported for this model.")
        if self.thinking == "level_not_minimal" and level == "MINIMAL":
            raise ProtocolError(INVALID_ARGUMENT, "thinking_level MINIMAL is not supported for this model.")
        if config is not None and config.enable_affective_dialog and not self.affective_dialog:
            raise ProtocolError(INVALID_ARGUMENT, "enable_affective_dialog is not supported for this model.")
        proactivity = setup.proactivity
        if proactivity is not None and proactivity.proactive_audio is not None:
            if self.proactive_audio == "unsupported":
                raise ProtocolError(INVALID_ARGUMENT, "proactivity is not supported for this model.")
            if self.proactive_audio == "always" and proactivity.proactive_audio is False:
                raise ProtocolError(INVALID_ARGUMENT, "proactive_audio cannot be disabled for this model.")
        for tool in setup.tools or []:
            for declaration in tool.function_declarations or []:
                if self.behavior(declaration) == "BLOCKING" and not self.blocking_allowed:
                    raise ProtocolError(INVALID_ARGUMENT, "Only NON_BLOCKING function calls are supported "
                                                          "for this model.")

    def behavior(self, declaration) -> str:
        """BLOCKING or NON_BLOCKING: how a call to this declaration runs."""
        declared = getattr(declaration.behavior, "value", declaration.behavior) if declaration.behavior else None
        if not self.non_blocking:
            return "BLOCKING"
        return str(declared or self.default_behavior).upper()

    def modality(self, setup) -> str:
        config = setup.generation_config
        modalities = config.response_modalities if config else None
        return str(getattr(modalities[0], "value", modalities[0])).upper() if modalities else "AUDIO"


GENERATIONS = (
    ModelGeneration(
        name="2.5 native audio",
        models=_NATIVE_AUDIO_25,
    ),
    ModelGeneration(
        name="2.5 half-cascade",
        models=_HALF_CASCADE_25,
        modalities=frozenset({"AUDIO", "TEXT"}),
        proactive_audio="unsupported",
        affective_dialog=False,
    ),
    ModelGeneration(
        name="3.1 flash live",
        models=("gemini-3.1-flash-live-preview",),
        text_refusal=(INTERNAL, "Internal error encountered."),  # python-genai #2238
        thinking="level",
        non_blocking=False,
        initial_history=True,
        proactive_audio="unsupported",
        affective_dialog=False,
        empty_server_content=True,
    ),
    ModelGeneration(
        name="3.8 live",
        models=("gemini-3.8-live",),
        thinking="none",
        default_behavior="NON_BLOCKING",
        cancel_blocking_on_input=True,
        initial_history=True,
        proactive_audio="always",
        affective_dialog=False,
        interaction_status=True,
    ),
    ModelGeneration(
        name="3.8 live extended thinking",
        models=("gemini-3.8-live-extended-thinking",),
        thinking="level_not_minimal",
        default_behavior="NON_BLOCKING",
        blocking_allowed=False,
        initial_history=True,
        proactive_audio="always",
        affective_dialog=False,
        interaction_status=True,
    ),
)
_BY_ID = {model: generation for generation in GENERATIONS for model in generation.models}
# "models/x", "publishers/google/models/x", "projects/p/locations/l/publishers/google/models/x", "tunedModels/x".
_PREFIX = re.compile(r"^(projects/[^/]+/locations/[^/]+/)?(publishers/[^/]+/)?models/")


def model_id(name: str) -> str:
    return _PREFIX.sub("", (name or "").strip())


def model_for(name: str, *, api_version: str = "v1beta") -> ModelGeneration:
    """The generation serving `name`, or the 1008 the service closes with for a model it does not serve."""
    generation = _BY_ID.get(model_id(name))
    if generation is None:
        raise ProtocolError(
            POLICY,
            f"models/{model_id(name)} is not found for API version {api_version}, or is not supported for "
            "bidiGenerateContent. Call ModelService.ListModels to see the list of available models and their "
            "supported methods.",
        )
    return generation
