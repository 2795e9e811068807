"""The idle CPU the simulated sessions are admitted by (tests/cpu.py), on a fake clock and fake ticks."""

import os

from tests.cpu import IdleCores

HZ = os.sysconf("SC_CLK_TCK")


class Machine:
    def __init__(self):
        self.t = 0.0
        self.idle_ticks = 0

    def run(self, seconds: float, idle_cores: float) -> None:
        self.t += seconds
        self.idle_ticks += round(seconds * idle_cores * HZ)


def test_idle_cores_over_the_last_window_only_once_a_whole_window_was_seen():
    machine = Machine()
    idle = IdleCores(2.0, clock=lambda: machine.t, ticks=lambda: machine.idle_ticks)
    idle.sample()
    machine.run(1.0, 2.0)
    idle.sample()
    assert idle.cores() is None  # half a window
    for _ in range(4):
        machine.run(0.5, 2.0)
        idle.sample()
    assert abs(idle.cores() - 2.0) < 0.05
    for _ in range(8):  # the machine gets busy: the old idle leaves the window
        machine.run(0.5, 0.25)
        idle.sample()
    assert abs(idle.cores() - 0.25) < 0.05
    idle.reset()
    idle.sample()
    assert idle.cores() is None


def test_where_the_machine_does_not_say_nothing_is_known():
    idle = IdleCores(1.0, ticks=lambda: None)
    idle.sample()
    idle.sample()
    assert idle.cores() is None
