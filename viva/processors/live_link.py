"""Frames between the Live service and the guards about its link to the model."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import SystemFrame


@dataclass
class ReconnectRequestFrame(SystemFrame):
    """Asks the Live service (upstream) to reconnect: the stall watchdog's last resort."""


@dataclass
class LiveLinkFrame(SystemFrame):
    """The Live service's link went down (up=False) or came back (downstream): while it is
    down the model cannot answer, and what it said last may have been cut."""

    up: bool = True
