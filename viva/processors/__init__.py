"""viva's frame processors: each a thin Pipecat processor around a plain decision class."""
