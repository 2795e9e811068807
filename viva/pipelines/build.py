"""A Pipecat pipeline from a config: the transport, the config's stages in order, the taps."""

from __future__ import annotations

from pipecat.pipeline.pipeline import Pipeline
from pipecat.transports.base_transport import BaseTransport

from viva.pipelines.context import StageContext
from viva.pipelines.registry import build_stage
from viva.recording import LEFT, RIGHT, RecordingTap, StereoRecorder


def build_pipeline(*, transport: BaseTransport, context: StageContext, recorder: StereoRecorder) -> Pipeline:
    """transport.input -> microphone tap -> stages... -> transport.output -> loudspeaker tap."""
    stages = [build_stage(spec.name, spec.params, context) for spec in context.config.stages]
    return Pipeline([
        transport.input(),
        RecordingTap(recorder=recorder, channel=LEFT),
        *stages,
        transport.output(),
        RecordingTap(recorder=recorder, channel=RIGHT),
    ])
