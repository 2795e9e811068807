"""`viva emulator`'s stop: bounded, and a task that will not end is named, not waited for forever."""

import asyncio

import pytest

from viva.commands import emulator as command


class _Server:
    def __init__(self):
        self.stopped = False

    async def stop(self):
        self.stopped = True


class _Exited(Exception):
    pass


def _exit(code):
    raise _Exited(code)


async def test_tasks_the_server_left_are_cancelled_and_the_stop_returns(warnings_logged):
    server = _Server()
    leftover = asyncio.create_task(asyncio.sleep(3600), name="a-leftover-timer")
    await command._stop(server)
    assert server.stopped and leftover.cancelled() and warnings_logged == []


async def test_a_task_that_will_not_end_is_named_with_its_stack_and_the_process_exits(monkeypatch, warnings_logged):
    monkeypatch.setattr(command, "STOP_S", 0.2)
    monkeypatch.setattr(command.os, "_exit", _exit)
    release = asyncio.Event()

    async def stubborn():
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="a-stubborn-task")
    await asyncio.sleep(0)
    with pytest.raises(_Exited):
        await command._stop(_Server())
    release.set()
    task.cancel()
    assert len(warnings_logged) == 1 and "a-stubborn-task" in warnings_logged[0]
    assert "in stubborn" in warnings_logged[0]  # its stack
    await asyncio.wait({task})
