"""A Pipecat pipeline from a config: the transport, the config's stages in order, the taps."""

from __future__ import annotations

from pipecat.pipeline.pipeline import Pipeline
from pipecat.transports.base_transport import BaseTransport

from viva.pipelines.context import StageContext
from viva.pipelines.registry import STAGES, build_stage
from viva.processors.closing_finder import ClosingFinderProcessor
from viva.recording import LEFT, RIGHT, RecordingTap, StereoRecorder


def build_pipeline(*, transport: BaseTransport, context: StageContext, recorder: StereoRecorder) -> Pipeline:
    """transport.input -> microphone tap -> stages... -> transport.output -> loudspeaker tap; the
    closing finder straight after the stage that speaks (the Live service), whatever the stages."""
    stages = []
    finder = ClosingFinderProcessor(context.config.exam.closing_phrase)
    for spec in context.config.stages:
        stages.append(build_stage(spec.name, spec.params, context))
        if STAGES[spec.name].speaks and finder not in stages:
            stages.append(finder)
    if finder not in stages:
        stages.append(finder)
    return Pipeline([
        transport.input(),
        RecordingTap(recorder=recorder, channel=LEFT),
        *stages,
        transport.output(),
        RecordingTap(recorder=recorder, channel=RIGHT),
    ])
