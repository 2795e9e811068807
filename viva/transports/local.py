"""Local audio on a desktop: Pipecat's LocalAudioTransport (PyAudio over PortAudio).

Local audio has no echo cancellation: the examiner's voice from the loudspeakers
reaches the microphone. So the turn gate is half-duplex by default (no window opens
while the examiner speaks: the candidate cannot interrupt); with headphones nothing
leaks back, and barge-in can stay on.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from pipecat.transports.local.audio import LocalAudioTransport, LocalAudioTransportParams

from viva.config import VivaConfig
from viva.errors import BadInput


@contextmanager
def _quiet_c_stderr():
    """PortAudio's probing prints ALSA and JACK complaints straight to file descriptor 2;
    the user needs the one line that matters, not dozens about absent surround cards."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_audio_devices() -> None:
    """One clear line (BadInput) when there is no microphone or no loudspeaker."""
    import pyaudio

    with _quiet_c_stderr():
        audio = pyaudio.PyAudio()
    try:
        for kind, find in (("input (microphone)", audio.get_default_input_device_info),
                           ("output (loudspeaker)", audio.get_default_output_device_info)):
            try:
                find()
            except (OSError, IOError) as e:
                raise BadInput(f"--transport local: no audio {kind} device found ({e}); "
                               "connect one, or use --transport webrtc") from None
    finally:
        audio.terminate()


def local_transport() -> LocalAudioTransport:
    check_audio_devices()
    with _quiet_c_stderr():
        return LocalAudioTransport(LocalAudioTransportParams(
            audio_in_enabled=True, audio_out_enabled=True, audio_in_sample_rate=16000, audio_out_sample_rate=24000))


def with_half_duplex(config: VivaConfig, half_duplex: bool) -> VivaConfig:
    """The config with its turn gate set half-duplex (or not), whatever the file says."""
    stages = [spec.model_copy(update={"params": spec.params.model_copy(update={"half_duplex": half_duplex})})
              if spec.name == "turn_gate" else spec for spec in config.stages]
    return config.model_copy(update={"stages": stages})
