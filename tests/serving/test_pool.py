"""Backend selection and the circuit breaker."""

from __future__ import annotations

import time

from suite.serving import Backend, Pool


def backends(*urls: str, threshold: int = 3, open_s: float = 60) -> list[Backend]:
    result = [Backend(url, threshold=threshold, open_s=open_s) for url in urls]
    for backend in result:
        backend.record_health(True)
    return result


def test_picks_fewest_in_flight() -> None:
    a, b = backends("a", "b")
    pool = Pool("m", [a, b])
    with a.lease():
        assert pool.pick() is b
    with b.lease(), b.lease(), a.lease():
        assert pool.pick() is a


def test_equal_load_is_shared() -> None:
    pool = Pool("m", backends("a", "b"))
    picked = {pool.pick().url for _ in range(4)}  # type: ignore[union-attr]
    assert picked == {"a", "b"}


def test_one_slow_probe_is_not_an_outage_but_two_are() -> None:
    (a,) = backends("a")
    a.record_health(False)
    assert a.available
    a.record_health(False)
    assert not a.available
    a.record_health(True)
    assert a.available


def test_a_backend_marked_down_is_out_at_once() -> None:
    (a,) = backends("a")
    a.mark_down()
    assert not a.available


def test_unhealthy_and_excluded_backends_are_skipped() -> None:
    a, b = backends("a", "b")
    pool = Pool("m", [a, b])
    a.mark_down()
    assert all(pool.pick() is b for _ in range(3))
    assert pool.pick(exclude={"b"}) is None
    assert not Pool("m", [a]).ready


def test_repeated_failures_open_the_circuit() -> None:
    a, b = backends("a", "b", threshold=2)
    pool = Pool("m", [a, b])
    a.record_failure()
    assert a.available  # one failure is not enough
    a.record_failure()
    assert a.circuit_open
    assert all(pool.pick() is b for _ in range(3))


def test_success_resets_the_failure_count() -> None:
    (a,) = backends("a", threshold=2)
    a.record_failure()
    a.record_success()
    a.record_failure()
    assert a.available


def test_passing_probe_after_open_period_lets_backend_back_half_open() -> None:
    (a,) = backends("a", threshold=3, open_s=0.05)
    for _ in range(3):
        a.record_failure()
    a.record_health(True)
    assert a.circuit_open  # still inside the open period
    time.sleep(0.06)
    a.record_health(True)
    assert a.available
    a.record_failure()  # half-open: one more failure is enough
    assert a.circuit_open


def test_failing_probe_keeps_circuit_open() -> None:
    (a,) = backends("a", threshold=1, open_s=0.01)
    a.record_failure()
    time.sleep(0.02)
    a.record_health(False)
    a.record_health(False)
    assert not a.available
