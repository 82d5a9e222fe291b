"""In-flight leases: one holder at a time, renewable, released, and taken over once expired."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from airflow_mlpipelines.reuse import lease


def test_first_caller_holds_second_waits(tmp_path: Path) -> None:
    assert lease.try_acquire(str(tmp_path), "run1", 60) is None
    held = lease.try_acquire(str(tmp_path), "run2", 60)
    assert held is not None
    assert held.holder == "run1"
    assert held.expires_at > time.time() + 50


def test_holder_reacquires_its_own_lease(tmp_path: Path) -> None:
    assert lease.try_acquire(str(tmp_path), "run1", 1) is None
    assert lease.try_acquire(str(tmp_path), "run1", 60) is None
    info = lease.read(str(tmp_path))
    assert info is not None
    assert info.expires_at > time.time() + 50


def test_release_lets_the_next_run_in(tmp_path: Path) -> None:
    lease.try_acquire(str(tmp_path), "run1", 60)
    lease.release(str(tmp_path), "run2")  # not the holder: no effect
    assert lease.try_acquire(str(tmp_path), "run2", 60) is not None
    lease.release(str(tmp_path), "run1")
    assert lease.try_acquire(str(tmp_path), "run2", 60) is None


def test_expired_lease_is_taken_over(tmp_path: Path) -> None:
    lease.try_acquire(str(tmp_path), "crashed", 60, now=time.time() - 120)
    assert lease.try_acquire(str(tmp_path), "run2", 60) is None
    info = lease.read(str(tmp_path))
    assert info is not None
    assert info.holder == "run2"


def test_renew_only_by_holder(tmp_path: Path) -> None:
    lease.try_acquire(str(tmp_path), "run1", 1)
    assert lease.renew(str(tmp_path), "run2", 60) is False
    assert lease.renew(str(tmp_path), "run1", 60) is True
    info = lease.read(str(tmp_path))
    assert info is not None
    assert info.expires_at > time.time() + 50


def test_unreadable_lease_counts_as_expired(tmp_path: Path) -> None:
    (tmp_path / lease.LEASE_NAME).write_text("{garbage")
    assert lease.try_acquire(str(tmp_path), "run2", 60) is None


def test_exactly_one_of_many_concurrent_contenders_wins(tmp_path: Path) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend(name: str) -> None:
        barrier.wait()
        if lease.try_acquire(str(tmp_path), name, 60) is None:
            winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"run{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_one_winner_when_many_take_over_an_expired_lease(tmp_path: Path) -> None:
    for _ in range(20):
        lease.try_acquire(str(tmp_path), "crashed", 60, now=time.time() - 120)
        winners: list[str] = []
        barrier = threading.Barrier(6)

        def contend(name: str, barrier: threading.Barrier, winners: list[str]) -> None:
            barrier.wait()
            if lease.try_acquire(str(tmp_path), name, 60) is None:
                winners.append(name)

        threads = [threading.Thread(target=contend, args=(f"run{i}", barrier, winners)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1
        lease.release(str(tmp_path), winners[0])
