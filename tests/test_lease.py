"""The commit lease: exclusive creation, mutual exclusion, expiry, take-over with intents.

Locally and on S3 (a moto server: conditional PUTs with If-None-Match, as on AWS).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from era5_common import storage
from era5_contours.commit import lease as lease_mod
from era5_contours.commit.intent import CommitIntent
from era5_contours.commit.lease import CommitLease, LeaseLost, LeaseTimeout, lease_root

# Depends on what differs between the Glue runtimes: the lanes run it (sh/test_glue_lane.sh).
pytestmark = pytest.mark.runtime


def _intent(attempt: str) -> CommitIntent:
    return CommitIntent(
        run_id=attempt.split("-")[0],
        attempt=attempt,
        order=("climate.contour_features",),
        before={"climate.contour_features": None},
        files={"climate.contour_features": (f"/w/{attempt}.parquet",)},
        staging=f"/o/_staging/{attempt}",
        output_path="/o",
    )


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        return lease_root(str(tmp_path / "warehouse"), "climate")
    request.getfixturevalue("moto_endpoint")
    bucket = f"lease-{time.monotonic_ns()}"
    storage.s3_client().create_bucket(Bucket=bucket)
    return lease_root(f"s3://{bucket}/warehouse", "climate")


def test_create_exclusive_lets_exactly_one_writer_win(root):
    path = storage.join(root, "x.json")
    results = []

    def create(n):
        results.append((n, storage.create_exclusive(path, json.dumps({"n": n}).encode())))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, won in results if won]
    assert len(winners) == 1
    assert json.loads(storage.read_bytes(path)) == {"n": winners[0]}


def _hold(root, name, log, hold_seconds):
    lease = CommitLease(root, {"run_id": name, "attempt": name}, ttl=30, poll=0.05)
    lease.acquire(wait_seconds=60)
    log.append(("in", name, time.monotonic()))
    time.sleep(hold_seconds)
    lease.check()
    log.append(("out", name, time.monotonic()))
    lease.release()


def test_one_holder_at_a_time(root):
    log: list = []
    threads = [threading.Thread(target=_hold, args=(root, f"run{n}", log, 0.2)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log) == 8
    # Every "in" is followed by the same run's "out" before anyone else gets in.
    events = sorted(log, key=lambda e: e[2])
    for i in range(0, 8, 2):
        assert events[i][0] == "in" and events[i + 1] == ("out", events[i][1], events[i + 1][2])


def _process_holder(root: str, name: str, out: str) -> None:
    lease = CommitLease(root, {"run_id": name, "attempt": name}, ttl=30, poll=0.05)
    lease.acquire(wait_seconds=60)
    with open(out, "a") as fh:
        fh.write(f"in {name} {time.time()}\n")
    time.sleep(0.3)
    with open(out, "a") as fh:
        fh.write(f"out {name} {time.time()}\n")
    lease.release()


def test_one_holder_at_a_time_across_processes(tmp_path):
    root = str(tmp_path / "lease")
    out = tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_holder, args=(root, f"p{n}", str(out))) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = [ln.split() for ln in out.read_text().splitlines()]
    assert len(lines) == 6
    for i in range(0, 6, 2):
        assert lines[i][0] == "in" and lines[i + 1][:2] == ["out", lines[i][1]]


def test_waiting_gives_up_naming_the_holder(root):
    holder = CommitLease(root, {"run_id": "first", "attempt": "first-1"}, ttl=30)
    holder.acquire(wait_seconds=1)
    other = CommitLease(root, {"run_id": "second", "attempt": "second-1"}, ttl=30, poll=0.05)
    with pytest.raises(LeaseTimeout, match=r"held by run first \(attempt first-1"):
        other.acquire(wait_seconds=0.5)
    holder.release()
    other.acquire(wait_seconds=1)
    other.release()


def test_an_expired_holder_is_taken_over_and_its_intents_finished(root):
    dead = CommitLease(root, {"run_id": "dead", "attempt": "dead-1"}, ttl=4)
    dead.acquire(wait_seconds=1)
    dead.set_pending([_intent("dead-1")])
    dead.abandon()  # as if killed: no renewal, no release
    inherited = []
    taker = CommitLease(root, {"run_id": "next", "attempt": "next-1"}, ttl=30, poll=0.2)
    t0 = time.time()
    taker.acquire(wait_seconds=30, on_inherit=inherited.append)
    assert time.time() - t0 >= 2.5  # it waited for the expiry
    assert inherited == [[_intent("dead-1")]]
    assert taker.pending == []
    # The dead record is marked done, naming who took it over.
    done = json.loads(storage.read_bytes(storage.join(root, f"{dead_number(root):012d}.done")))
    assert done["taken_over_by"] == taker.number and done["run_id"] == "next"
    with pytest.raises(LeaseLost):
        dead.check()
    taker.release()


def dead_number(root):
    numbers = sorted(
        int(Path(p).name.split(".")[0])
        for p, _ in storage.list_with_times(root)
        if p.endswith(".json")
    )
    return numbers[-2]


def test_a_local_holder_whose_process_is_gone_is_taken_over_at_once(tmp_path):
    root = str(tmp_path / "lease")
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_acquire_and_die, args=(root,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 17
    inherited = []
    taker = CommitLease(root, {"run_id": "next", "attempt": "next-1"}, ttl=300, poll=0.05)
    t0 = time.time()
    taker.acquire(wait_seconds=5, on_inherit=inherited.append)
    assert time.time() - t0 < 5
    assert inherited == [[_intent("gone-1")]]
    taker.release()


def _acquire_and_die(root: str) -> None:
    lease = CommitLease(root, {"run_id": "gone", "attempt": "gone-1"}, ttl=300)
    lease.acquire(wait_seconds=5)
    lease.set_pending([_intent("gone-1")])
    os._exit(17)


def test_a_failed_take_over_leaves_the_intents_for_the_next_run(root):
    dead = CommitLease(root, {"run_id": "dead", "attempt": "dead-1"}, ttl=4)
    dead.acquire(wait_seconds=1)
    dead.set_pending([_intent("dead-1")])
    dead.abandon()

    def broken(intents):
        raise RuntimeError("catalog down")

    taker = CommitLease(root, {"run_id": "t1", "attempt": "t1-1"}, ttl=30, poll=0.2)
    with pytest.raises(RuntimeError, match="catalog down"):
        taker.acquire(wait_seconds=30, on_inherit=broken)
    inherited = []
    again = CommitLease(root, {"run_id": "t2", "attempt": "t2-1"}, ttl=30, poll=0.05)
    again.acquire(wait_seconds=2, on_inherit=inherited.append)  # no second wait
    assert inherited == [[_intent("dead-1")]]
    again.release()


def test_the_holder_renews_its_lease(tmp_path):
    root = str(tmp_path / "lease")
    lease = CommitLease(root, {"run_id": "long", "attempt": "long-1"}, ttl=4)
    lease.acquire(wait_seconds=1)
    time.sleep(6)  # beyond the time to live: renewed every second
    lease.check()
    other = CommitLease(root, {"run_id": "other", "attempt": "other-1"}, ttl=4, poll=0.1)
    with pytest.raises(LeaseTimeout):
        other.acquire(wait_seconds=1)
    lease.release()


def test_released_records_are_pruned(tmp_path):
    root = str(tmp_path / "lease")
    for n in range(lease_mod.KEEP_RECORDS + 5):
        lease = CommitLease(root, {"run_id": f"r{n}", "attempt": f"r{n}"}, ttl=30)
        lease.acquire(wait_seconds=1)
        lease.release()
    names = sorted(Path(p).name for p, _ in storage.list_with_times(root))
    numbers = {int(n.split(".")[0]) for n in names}
    assert numbers == set(range(6, lease_mod.KEEP_RECORDS + 6))


@pytest.mark.parametrize("body", [b'{"run_id": "dead", "expi', b"[1, 2]", b'"text"'])
def test_a_damaged_record_is_taken_over(tmp_path, caplog, body):
    """Truncated JSON, or JSON that is not an object: the holder cannot be known, so stale."""
    root = lease_root(str(tmp_path / "warehouse"), "climate")
    Path(root).mkdir(parents=True)
    (Path(root) / f"{1:012d}.json").write_bytes(body)
    lease = CommitLease(root, {"run_id": "next", "attempt": "a"}, ttl=30, poll=0.05)
    lease.acquire(wait_seconds=0)
    assert lease.number == 2
    assert "unreadable lease record 1" in caplog.text
    lease.release()
