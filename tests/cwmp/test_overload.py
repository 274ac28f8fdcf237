"""The queue watch: new sessions refused while requests wait past the target."""

from __future__ import annotations

from cwmp.endpoint.overload import QueueWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _watch(clock: Clock, min_samples: int = 3) -> QueueWatch:
    return QueueWatch(target=0.25, interval=1.0, min_samples=min_samples, clock=clock)


def _interval_of(watch: QueueWatch, clock: Clock, waits: list[float]) -> None:
    for wait in waits:
        watch.note(wait)
        clock.now += 1.0 / len(waits)


def test_an_interval_of_waits_all_past_the_target_is_a_queue():
    clock = Clock()
    watch = _watch(clock)
    _interval_of(watch, clock, [0.4, 0.9, 0.3, 0.5])
    assert not watch.congested()  # the interval is judged when the next one starts
    watch.note(0.6)
    assert watch.congested()
    # Still queueing: the verdict holds past its two intervals while slow waits come in.
    clock.now += 1.5
    watch.note(0.7)
    clock.now += 1.5
    assert watch.congested()


def test_one_wait_within_the_target_ends_it():
    clock = Clock()
    watch = _watch(clock)
    _interval_of(watch, clock, [0.4, 0.9, 0.3, 0.5])
    watch.note(0.6)
    assert watch.congested()
    watch.note(0.01)
    assert not watch.congested()


def test_slow_cpes_among_fast_ones_are_not_a_queue():
    clock = Clock()
    watch = _watch(clock)
    _interval_of(watch, clock, [3.0, 0.9, 0.05, 2.5, 1.0])
    watch.note(1.5)
    assert not watch.congested()


def test_a_quiet_server_never_refuses():
    """Too few waits to judge: a lone slow CPE is not a queue."""
    clock = Clock()
    watch = _watch(clock)
    _interval_of(watch, clock, [4.0, 5.0])
    watch.note(6.0)
    assert not watch.congested()


def test_the_verdict_lapses_when_nothing_is_left_to_measure():
    """Refusing every new session leaves no session to time: after two intervals, one gets in."""
    clock = Clock()
    watch = _watch(clock)
    _interval_of(watch, clock, [0.4, 0.9, 0.3, 0.5])
    watch.note(0.6)
    assert watch.congested()
    clock.now += 1.9
    assert watch.congested()
    clock.now += 0.2
    assert not watch.congested()


def test_an_interval_long_gone_is_not_judged():
    clock = Clock()
    watch = _watch(clock)
    _interval_of(watch, clock, [0.4, 0.9, 0.3, 0.5])
    clock.now += 30
    watch.note(0.6)
    assert not watch.congested()
