"""The commit lease: one run at a time merges and commits a database's two tables.

Iceberg commits one table at a time, and the Glue catalog has no lock. The lease is the
log-store pattern of Delta Lake on S3: a sequence of small JSON records under
``{warehouse}/_commit_lease/{database}/``, each created with an exclusive write
(:func:`~era5_common.storage.create_exclusive`: a conditional PUT on S3, a hard link
locally), so of several runs racing for the next number exactly one wins::

    000000000007.json   holder of lease 7: run id, attempt, host, expiry, pending intents
    000000000007.done   lease 7 released

A run takes the lease by creating record ``n + 1`` once record ``n`` is released or has
expired. The holder renews its expiry from a background thread; before every step that
changes a table it checks that the lease is still its own (:meth:`CommitLease.check`).
A holder that dies leaves its record unreleased with its *intent* (what it was about to
commit); the run that takes over after the expiry inherits the intent and completes or
undoes it first (``on_inherit``), so no reader is left with a half-done commit for longer
than the lease's time to live. Locally, a record whose holder process is gone (same host,
dead pid) is taken over at once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from era5_common import storage

from .intent import CommitIntent, intents_from_json

logger = logging.getLogger(__name__)

FOLDER = "_commit_lease"
_RECORD = re.compile(r"(\d{12})\.(json|done)$")
#: Released records kept for the record (older ones are removed by the holder that ends).
KEEP_RECORDS = 20


class LeaseTimeout(RuntimeError):
    """Another run held the lease for longer than this run was willing to wait."""


class LeaseLost(RuntimeError):
    """The run's lease expired or was taken over: it must not commit."""


def lease_root(warehouse_path: str, database: str) -> str:
    """The folder of a database's lease records (next to its tables)."""
    return storage.join(warehouse_path, FOLDER, database)


def _record_path(root: str, number: int, kind: str = "json") -> str:
    return storage.join(root, f"{number:012d}.{kind}")


def _scan(root: str) -> tuple[int, bool]:
    """The highest record number under ``root`` (0 if none) and whether it is released."""
    numbers: dict[int, set[str]] = {}
    for path, _ in storage.list_with_times(root):
        match = _RECORD.search(path)
        if match:
            numbers.setdefault(int(match.group(1)), set()).add(match.group(2))
    if not numbers:
        return 0, True
    top = max(numbers)
    return top, "done" in numbers[top]


def _is_local(root: str) -> bool:
    return not storage.is_s3(root)


def _process_gone(record: dict[str, Any]) -> bool:
    """Whether the holder of a record ran on this host in a process that no longer exists."""
    if record.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


class CommitLease:
    """The commit lease of one database, for one run.

    Parameters
    ----------
    root
        :func:`lease_root` of the warehouse and database.
    holder
        Who holds it (``run_id`` and ``attempt`` at least): written into the record.
    ttl
        Seconds a record stays valid without renewal; renewed every ``ttl / 4``.
    poll
        Seconds between looks while another run holds the lease.
    """

    def __init__(
        self, root: str, holder: dict[str, Any], *, ttl: float = 300.0, poll: float = 2.0
    ) -> None:
        if ttl < 4:
            raise ValueError(f"the lease's time to live must be at least 4 s, got {ttl}")
        self.root = root
        self.holder = dict(holder)
        self.ttl = ttl
        self.poll = poll
        self.number: int | None = None
        self._record: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._renew_error: str | None = None

    # ------------------------------------------------------------------ taking it

    def acquire(
        self,
        wait_seconds: float,
        on_inherit: Callable[[list[CommitIntent]], None] | None = None,
    ) -> None:
        """Take the lease, waiting up to ``wait_seconds`` for the current holder.

        ``on_inherit`` receives the pending intents of a holder whose lease expired (or
        whose process is gone) and must complete or undo them; if it raises, the intents
        stay pending in this run's record, which is made to expire at once so that the
        next run tries again.

        Raises
        ------
        LeaseTimeout
            Naming the holder, when the wait runs out.
        """
        deadline = time.time() + wait_seconds
        last_note = 0.0
        while True:
            top, released = _scan(self.root)
            inherited: list[Any] = []  # the JSON form: read when it is finished
            if top and not released:
                record = self._read(top)
                if record is not None and not self._stale(record):
                    now = time.time()
                    if now >= deadline:
                        raise LeaseTimeout(
                            f"the commit lease {self.root} is held by run "
                            f"{record.get('run_id')} (attempt {record.get('attempt')}, host "
                            f"{record.get('host')}) since {record.get('acquired_at')}; "
                            f"waited {wait_seconds:.0f} s"
                        )
                    if now - last_note > 30:
                        logger.info(
                            "waiting for the commit lease, held by run %s (expires in %.0f s)",
                            record.get("run_id"),
                            float(record.get("expires", now)) - now,
                        )
                        last_note = now
                    time.sleep(min(self.poll * (0.5 + random.random()), max(0.1, deadline - now)))
                    continue
                if record is not None:
                    inherited = list(record.get("pending") or [])
                    logger.warning(
                        "the commit lease %d of run %s has expired unreleased; taking it over "
                        "with %d pending intent(s)",
                        top,
                        record.get("run_id"),
                        len(inherited),
                    )
            number = top + 1
            self._record = {
                **self.holder,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "acquired_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "expires": time.time() + self.ttl,
                "pending": inherited,
                "takes_over": top if top and not released else None,
            }
            if storage.create_exclusive(
                _record_path(self.root, number), json.dumps(self._record).encode()
            ):
                break
            # Another run took number n + 1 first: look again.
        self.number = number
        self._start_renewing()
        if self._record["takes_over"]:
            self._finish_inherited(top, inherited, on_inherit)

    def _finish_inherited(
        self,
        top: int,
        inherited: list[Any],
        on_inherit: Callable[[list[CommitIntent]], None] | None,
    ) -> None:
        if inherited and on_inherit is not None:
            try:
                on_inherit(intents_from_json(inherited))
            except BaseException:
                # Leave the intents for the next run, at once.
                self._stop_renewing()
                self._write(expires=0.0)
                self.number = None
                raise
        self._write(pending=[])
        storage.write_bytes(
            _record_path(self.root, top, "done"),
            json.dumps({"taken_over_by": self.number, **self.holder}).encode(),
        )

    def _read(self, number: int) -> dict[str, Any] | None:
        try:
            record = json.loads(storage.read_bytes(_record_path(self.root, number)))
            if not isinstance(record, dict):
                raise ValueError(f"a JSON {type(record).__name__}, not an object")
        except Exception as exc:  # noqa: BLE001 - a damaged record counts as stale
            logger.warning("unreadable lease record %d under %s: %s", number, self.root, exc)
            return None
        return record

    def _stale(self, record: dict[str, Any]) -> bool:
        if time.time() > float(record.get("expires", 0)):
            return True
        return _is_local(self.root) and _process_gone(record)

    # ------------------------------------------------------------------ holding it

    def _write(self, **changes: Any) -> None:
        with self._lock:
            self._record.update(changes)
            storage.write_bytes(
                _record_path(self.root, self._number()), json.dumps(self._record).encode()
            )

    def _number(self) -> int:
        if self.number is None:
            raise LeaseLost("the commit lease is not held")
        return self.number

    def _start_renewing(self) -> None:
        self._stop.clear()

        def renew() -> None:
            while not self._stop.wait(self.ttl / 4):
                try:
                    self._write(expires=time.time() + self.ttl)
                    self._renew_error = None
                except Exception as exc:  # noqa: BLE001 - check() refuses once it expires
                    self._renew_error = f"{type(exc).__name__}: {exc}"
                    logger.warning("could not renew the commit lease: %s", self._renew_error)

        self._renewer = threading.Thread(target=renew, name="commit-lease", daemon=True)
        self._renewer.start()

    def _stop_renewing(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None

    @property
    def pending(self) -> list[CommitIntent]:
        """The intents this holder has recorded and not yet finished."""
        return intents_from_json(self._record.get("pending"))

    def set_pending(self, intents: list[CommitIntent]) -> None:
        """Record what this run is about to commit (or ``[]`` once it is done)."""
        self.check()
        self._write(pending=[i.to_json() for i in intents], expires=time.time() + self.ttl)

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is still this run's for a while."""
        number = self._number()
        margin = self.ttl / 4
        if time.time() > float(self._record.get("expires", 0)) - margin:
            raise LeaseLost(
                f"the commit lease {self.root} ran out"
                + (f" (renewal failed: {self._renew_error})" if self._renew_error else "")
            )
        top, _ = _scan(self.root)
        if top != number:
            raise LeaseLost(f"the commit lease {self.root} was taken over (record {top})")

    def release(self) -> None:
        """Give the lease up; older released records are pruned."""
        number = self._number()
        self._stop_renewing()
        storage.write_bytes(
            _record_path(self.root, number, "done"), json.dumps(self.holder).encode()
        )
        self.number = None
        try:
            for path, _ in storage.list_with_times(self.root):
                match = _RECORD.search(path)
                if match and int(match.group(1)) <= number - KEEP_RECORDS:
                    storage.delete(path)
        except Exception as exc:  # noqa: BLE001 - old records only cost a listing
            logger.warning("could not prune old lease records under %s: %s", self.root, exc)

    def abandon(self) -> None:
        """Stop renewing without releasing (the record expires and its intents stay)."""
        self._stop_renewing()
        self.number = None
