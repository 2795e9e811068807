"""ResilientSession: sends kept while the link is down, sent again after a resume, never raised."""

from google.genai import types

from viva.pipelines.resilient_session import ResilientSession


class FakeLink:
    """Records sends; fails them once told the link broke."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []
        self.broken = False

    async def _record(self, method, kwargs):
        if self.broken:
            raise ConnectionError("1011")
        self.sent.append((method, kwargs))

    async def send_realtime_input(self, **kwargs):
        await self._record("realtime", kwargs)

    async def send_tool_response(self, **kwargs):
        await self._record("tool", kwargs)

    async def send_client_content(self, **kwargs):
        await self._record("content", kwargs)


def audio(i: int) -> types.Blob:
    return types.Blob(data=bytes([i]) * 640, mime_type="audio/pcm;rate=16000")


def kinds(link: FakeLink) -> list[str]:
    out = []
    for method, kwargs in link.sent:
        if method == "realtime":
            out.append("start" if kwargs.get("activity_start") else "end" if kwargs.get("activity_end")
                       else f"audio{kwargs['audio'].data[0]}" if kwargs.get("audio") else "text")
        else:
            out.append(method)
    return out


async def test_sends_while_down_go_out_in_order_on_the_next_link():
    session = ResilientSession()
    await session.send_realtime_input(activity_start=types.ActivityStart())
    await session.send_realtime_input(audio=audio(1))
    assert session.kept_while_down == 2
    link = FakeLink()
    pending = session.attach(link, resumed=False)
    assert await session.flush(pending) == 2
    assert kinds(link) == ["start", "audio1"]


async def test_a_failed_send_is_kept_not_raised_and_a_resume_replays_since_the_resumable_point():
    session, first = ResilientSession(), FakeLink()
    session.attach(first, resumed=False)
    await session.send_realtime_input(activity_start=types.ActivityStart())
    await session.send_realtime_input(audio=audio(1))
    await session.send_realtime_input(activity_end=types.ActivityEnd())
    session.on_resumable_point()  # the server's point to resume from: after the first answer
    await session.send_realtime_input(activity_start=types.ActivityStart())
    await session.send_realtime_input(audio=audio(2))
    first.broken = True
    await session.send_realtime_input(audio=audio(3))  # fails: kept
    assert not session.connected
    await session.send_realtime_input(activity_end=types.ActivityEnd())  # while down: kept
    second = FakeLink()
    await session.flush(session.attach(second, resumed=True))
    assert kinds(second) == ["start", "audio2", "audio3", "end"]  # the whole answer, one window


async def test_a_resume_does_not_send_tool_responses_again_and_a_fresh_session_gets_only_the_window():
    session, first = ResilientSession(), FakeLink()
    session.attach(first, resumed=False)
    session.on_resumable_point()
    await session.send_realtime_input(activity_start=types.ActivityStart())
    await session.send_realtime_input(audio=audio(4))
    await session.send_realtime_input(activity_end=types.ActivityEnd())
    await session.send_tool_response(function_responses=[])
    session.detach()
    resumed = FakeLink()
    await session.flush(session.attach(resumed, resumed=True))
    assert kinds(resumed) == ["start", "audio4", "end"]  # the model asks again; the answer goes again

    session.on_resumable_point()
    await session.send_realtime_input(text="(a nudge)")
    await session.send_realtime_input(activity_start=types.ActivityStart())
    await session.send_realtime_input(audio=audio(5))
    session.detach()
    fresh = FakeLink()
    await session.flush(session.attach(fresh, resumed=False))
    assert kinds(fresh) == ["start", "audio5"]  # from the window's start; its history comes separately


async def test_a_handle_that_comes_while_a_window_is_open_or_unanswered_keeps_that_window():
    # Right after a reconnect the setup's handle arrives after the window was sent again:
    # it cannot hold that window, so a second drop must send the window once more.
    session, first = ResilientSession(), FakeLink()
    session.attach(first, resumed=False)
    await session.send_realtime_input(text="(earlier)")
    await session.send_realtime_input(activity_start=types.ActivityStart())
    await session.send_realtime_input(audio=audio(6))
    session.on_resumable_point(keep_window=True)  # the candidate is still speaking
    await session.send_realtime_input(activity_end=types.ActivityEnd())
    session.on_resumable_point(keep_window=True)  # closed, not answered yet
    session.detach()
    second = FakeLink()
    await session.flush(session.attach(second, resumed=True))
    assert kinds(second) == ["start", "audio6", "end"]
    session.on_resumable_point(keep_window=False)  # after the answer: nothing owed any more
    session.detach()
    third = FakeLink()
    await session.flush(session.attach(third, resumed=True))
    assert kinds(third) == []
