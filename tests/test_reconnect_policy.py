"""The reconnect policy, with a fake clock and a seeded random source."""

import random

import pytest

from tests.helpers import FakeClock
from viva.pipelines.reconnect_policy import REFUSED, Attempt, Moment, ReconnectPolicy


@pytest.fixture
def clock():
    return FakeClock()


# What these tests rely on where they name nothing else: the gemini_live stage's defaults.
SCHEDULE = dict(schedule_s=(1.0, 2.0, 4.0), jitter=0.2, budget_s=30.0, go_away_margin_s=5.0)


def policy(clock, **kwargs) -> ReconnectPolicy:
    return ReconnectPolicy(**(SCHEDULE | kwargs), rng=random.Random(7), clock=clock)


def test_waits_follow_the_schedule_within_the_jitter_and_the_last_repeats(clock):
    reconnect = policy(clock, schedule_s=(1, 2, 4), jitter=0.2, budget_s=100)
    delays = []
    for _ in range(5):
        attempt = reconnect.on_disconnect(1011)
        delays.append(attempt.delay_s)
        clock.t += attempt.delay_s
    for delay, base in zip(delays, [1, 2, 4, 4, 4], strict=True):
        assert base * 0.8 <= delay <= base * 1.2
    assert len(set(delays)) == 5  # jittered: no two alike


def test_without_jitter_the_waits_are_the_schedule(clock):
    reconnect = policy(clock, schedule_s=(1, 2, 4), jitter=0.0)
    assert [reconnect.on_disconnect().delay_s for _ in range(4)] == [1, 2, 4, 4]


def test_attempts_resume_by_the_last_resumable_handle(clock):
    reconnect = policy(clock)
    reconnect.on_handle("h1", resumable=True)
    reconnect.on_handle("h2", resumable=False)  # while generating: not a point to resume from
    reconnect.on_handle("h3", resumable=True)
    attempt = reconnect.on_disconnect(1011)
    assert attempt.handle == "h3" and attempt.number == 1


def test_a_refused_handle_means_a_fresh_session_from_then_on(clock):
    reconnect = policy(clock)
    reconnect.on_handle("h1", resumable=True)
    assert reconnect.on_disconnect(1011).handle == "h1"
    refused = reconnect.on_disconnect(REFUSED)
    assert refused.handle is None and refused.after_refusal and refused.delay_s == 0  # fresh, at once
    assert reconnect.on_disconnect(1011).handle is None


def test_a_refused_fresh_session_is_given_up_at_once(clock):
    reconnect = policy(clock, schedule_s=(1, 2, 4), jitter=0.0)
    reconnect.on_handle("h1", resumable=True)
    assert reconnect.on_disconnect(1011).delay_s == 1
    assert reconnect.on_disconnect(REFUSED).delay_s == 0  # the handle refused: fresh at once
    assert reconnect.on_disconnect(REFUSED) is None  # the fresh session refused too (a bad key, say): no retry
    assert policy(clock).on_disconnect(REFUSED) is None  # refused at the first connect (an unknown model)


def test_no_handle_yet_means_a_fresh_session(clock):
    assert policy(clock).on_disconnect(1011).handle is None


def test_the_budget_bounds_the_outage(clock):
    reconnect = policy(clock, schedule_s=(1, 2, 4), jitter=0.0, budget_s=10)
    attempts = []
    while (attempt := reconnect.on_disconnect(1011)) is not None:
        attempts.append(attempt)
        clock.t += attempt.delay_s
    assert [a.delay_s for a in attempts] == [1, 2, 4]  # the next would start 11 s after the drop
    assert reconnect.reconnecting


def test_a_connection_ends_the_outage_and_the_count_starts_again(clock):
    reconnect = policy(clock, jitter=0.0)
    reconnect.on_disconnect(1011)
    reconnect.on_disconnect(1011)
    reconnect.on_connected()
    assert not reconnect.reconnecting
    assert reconnect.on_disconnect(1011) == Attempt(number=1, base_s=1.0, delay_s=1.0, handle=None)


def test_a_go_away_reconnects_at_the_next_point_between_turns(clock):
    reconnect = policy(clock, go_away_margin_s=5)
    assert not reconnect.planned_reconnect_due(Moment.BETWEEN_TURNS)  # no goAway: nothing planned
    assert reconnect.go_away_deadline is None
    reconnect.on_go_away(50)
    assert reconnect.go_away_deadline == clock.t + 45
    assert not reconnect.planned_reconnect_due(Moment.CANDIDATE_SPEAKING)
    assert not reconnect.planned_reconnect_due(Moment.EXAMINER_TURN)
    assert reconnect.planned_reconnect_due(Moment.BETWEEN_TURNS)


def test_after_the_deadline_a_go_away_reconnects_while_the_candidate_speaks_never_in_the_examiners_turn(clock):
    reconnect = policy(clock, go_away_margin_s=5)
    reconnect.on_go_away(20)
    clock.t += 14.9
    assert not reconnect.planned_reconnect_due(Moment.CANDIDATE_SPEAKING)
    clock.t += 0.1
    assert reconnect.planned_reconnect_due(Moment.CANDIDATE_SPEAKING)
    clock.t += 10  # past the time left: the examiner's turn is still not cut (the server will close)
    assert not reconnect.planned_reconnect_due(Moment.EXAMINER_TURN)
    reconnect.on_connected()
    assert not reconnect.planned_reconnect_due(Moment.BETWEEN_TURNS)


def test_a_go_away_with_less_time_than_the_margin_is_due_at_once_unless_the_examiner_speaks(clock):
    reconnect = policy(clock, go_away_margin_s=5)
    reconnect.on_go_away(3)
    assert reconnect.planned_reconnect_due(Moment.CANDIDATE_SPEAKING)
    assert not reconnect.planned_reconnect_due(Moment.EXAMINER_TURN)
