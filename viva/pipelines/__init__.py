"""Pipecat pipelines built from viva's YAML configs."""
