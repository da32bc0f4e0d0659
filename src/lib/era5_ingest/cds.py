"""The Climate Data Store behind one seam: submit a request, follow it, download its result.

Requests go through the current CDS client, ``ecmwf-datastores-client``, unmodified
(what ``cdsapi`` 0.7 wraps): it submits, polls and reads the results, and retries each
API call on HTTP 5xx, 429 and connection errors with backoff (``retry_after`` given as
``(first, cap, factor)``) up to ``maximum_tries``. What this module adds:

- one progress line per state change (queued, running, successful) and every few minutes
  while a request waits in the CDS queue, with its request id;
- the download of the result with ``multiurl`` (the client's own downloader) in a loop of
  our own: a connection cut, a 5xx or a truncated body resumes from the bytes already on
  disk (an HTTP Range request) after a growing wait, up to a cap; progress lines carry
  bytes and speed. (The client's ``download()`` draws a tqdm bar, sleeps a fixed
  ``retry_after`` and raises ``AssertionError`` on a short file: neither fits a job log.)
- errors sorted by what to do next: :class:`TransientError` (the run's retries are spent),
  :class:`RequestTooLarge` (split it), :class:`RequestFailed` / :class:`PermanentError`
  (that month fails, the others go on).

The API key travels only in the client's ``PRIVATE-TOKEN`` header; messages never carry it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cds_requests import TOO_LARGE, refusal_limit
from .credentials import Credentials, CredentialsError

if TYPE_CHECKING:
    from ecmwf.datastores import Client, Remote

logger = logging.getLogger(__name__)

#: HTTP statuses worth another try: server errors, rate limits, timeouts.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class CdsError(Exception):
    """A CDS interaction that did not succeed."""


class TransientError(CdsError):
    """A failure that another try might not have (5xx, connection, truncated download)."""


class PermanentError(CdsError):
    """A failure that retrying will not change (refused request, missing licence, 4xx)."""


class RequestFailed(PermanentError):
    """The CDS accepted the request and then reported it failed (or rejected, or gone)."""


class RequestTooLarge(PermanentError):
    """The CDS refused the request as too large; ``limit`` is the item limit it named."""

    def __init__(self, message: str, limit: int | None) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``attempts`` tries in all, waiting ``first_wait`` seconds before the second, doubling
    up to ``max_wait`` (each wait drawn from its upper half, so parallel retries spread).
    """

    attempts: int = 6
    first_wait: float = 10.0
    max_wait: float = 300.0

    def waits(self) -> Iterator[float]:
        """The waits between attempts (``attempts - 1`` of them)."""
        wait = self.first_wait
        for _ in range(max(0, self.attempts - 1)):
            yield wait / 2 + random.uniform(0, wait / 2)
            wait = min(self.max_wait, wait * 2)


@dataclass(frozen=True)
class PollPolicy:
    """How to follow a queued request.

    Waits grow from ``first`` to ``max`` seconds, a progress line comes at least every
    ``report_every`` seconds, and the request is given up after ``timeout``.
    """

    first: float = 2.0
    max: float = 60.0
    report_every: float = 300.0
    timeout: float = 24 * 3600.0


@dataclass(frozen=True)
class Result:
    """A successful request's result."""

    request_id: str
    href: str
    size: int
    content_type: str


def _first_lines(text: str, limit: int = 600) -> str:
    text = " | ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def classify(exc: BaseException, doing: str) -> CdsError:
    """The :class:`CdsError` an exception of the client (requests, multiurl) stands for."""
    import requests
    from ecmwf.datastores.processing import LinkError, ProcessingFailedError

    if isinstance(exc, CdsError):
        return exc
    if isinstance(exc, ProcessingFailedError):
        return RequestFailed(f"{doing}: {_first_lines(str(exc))}")
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        text = _first_lines(str(exc))
        if status is not None and 400 <= status < 500 and TOO_LARGE.search(str(exc)):
            return RequestTooLarge(f"{doing}: {text}", refusal_limit(str(exc)))
        if status in TRANSIENT_STATUSES:
            return TransientError(f"{doing}: HTTP {status}: {text}")
        if status == 404:
            return RequestFailed(f"{doing}: not found (expired or deleted): {text}")
        return PermanentError(f"{doing}: {text}")
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return TransientError(f"{doing}: {type(exc).__name__}: {_first_lines(str(exc), 300)}")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"{doing}: {type(exc).__name__}: {_first_lines(str(exc), 300)}")
    if isinstance(exc, (LinkError, KeyError, ValueError)):
        return PermanentError(f"{doing}: unexpected CDS answer: {type(exc).__name__}: {exc}")
    return PermanentError(f"{doing}: {type(exc).__name__}: {_first_lines(str(exc), 300)}")


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class _LoggingBar:
    """multiurl's progress-bar interface, as log lines with bytes and speed."""

    def __init__(
        self,
        say: Callable[[str], None],
        every: float,
        total: int | None,
        initial: int = 0,
        desc: str | None = None,
    ) -> None:
        self.say, self.every = say, every
        self.total = total
        self.done = initial
        self.initial = initial
        self.start = self.last = time.monotonic()

    def __enter__(self) -> _LoggingBar:
        if self.initial:
            self.say(f"downloading: resuming at {human_bytes(self.initial)}")
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.say(self.line(now))

    def line(self, now: float) -> str:
        speed = (self.done - self.initial) / max(now - self.start, 1e-9)
        of = (
            f" of {human_bytes(self.total)} ({100 * self.done / self.total:.0f}%)"
            if self.total
            else ""
        )
        return f"downloading: {human_bytes(self.done)}{of} at {human_bytes(speed)}/s"

    def close(self) -> None:
        return None


class CdsService:
    """Talks to one CDS (its URL and key) with one client per thread.

    Parameters
    ----------
    credentials
        URL and key.
    retry
        Retries of API calls (given to the client) and of downloads (ours).
    poll
        How to follow a queued request.
    timeout
        Seconds to wait for an HTTP answer (connect and read).
    sleep
        The sleeping function (tests pass a fast one).
    progress_every
        Seconds between two download progress lines.
    chunk_size
        Bytes read from the network and written to disk at a time.
    """

    def __init__(
        self,
        credentials: Credentials,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        progress_every: float = 30.0,
        chunk_size: int = 1024 * 1024,
    ) -> None:
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.progress_every = progress_every
        self.chunk_size = chunk_size
        self._local = threading.local()

    def client(self) -> Client:
        """The ``ecmwf.datastores.Client`` of this thread (requests sessions are per thread)."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            from ecmwf.datastores import Client

            client = Client(
                url=self.credentials.url,
                key=self.credentials.key,
                progress=False,
                cleanup=False,
                timeout=self.timeout,
                sleep_max=self.poll.max,
                # multiurl.robust takes (first, cap, factor): a doubling backoff. The client
                # annotates retry_after as a float, though it hands it to multiurl as is.
                retry_after=(self.retry.first_wait, self.retry.max_wait, 2),  # type: ignore[arg-type]
                maximum_tries=max(1, self.retry.attempts),
            )
            self._local.client = client
        return client

    def check_authentication(self) -> None:
        """Fail early on a key the CDS refuses.

        Raises
        ------
        CredentialsError
            When the CDS answers 401 or 403.
        CdsError
            When it cannot be reached.
        """
        import requests

        try:
            self.client().check_authentication()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403):
                raise CredentialsError(
                    f"the CDS at {self.credentials.url} refuses the key from "
                    f"{self.credentials.source} (HTTP {status})"
                ) from None
            raise classify(exc, "checking the API key") from None
        except Exception as exc:
            raise classify(exc, "checking the API key") from exc

    def submit(self, collection: str, request: dict[str, Any]) -> Remote:
        """Submit a request; the client's ``Remote`` (its ``request_id`` names it)."""
        try:
            return self.client().submit(collection, request)
        except Exception as exc:
            raise classify(exc, f"submitting to {collection}") from exc

    def remote(self, request_id: str) -> Remote:
        """The ``Remote`` of a request submitted earlier (to resume waiting for it)."""
        try:
            return self.client().get_remote(request_id)
        except Exception as exc:
            raise classify(exc, f"looking up request {request_id}") from exc

    def wait(self, remote: Remote, say: Callable[[str], None]) -> Result:
        """Poll until the request succeeds; its result.

        Raises
        ------
        RequestFailed
            When the CDS reports the request failed, rejected, dismissed or deleted.
        TransientError
            When the CDS stays unreachable, or the request waits beyond the timeout.
        """
        request_id = remote.request_id
        start = time.monotonic()
        last_status, last_report = None, start
        interval = self.poll.first
        while True:
            try:
                status = remote.status
            except Exception as exc:
                raise classify(exc, f"polling request {request_id}") from exc
            now = time.monotonic()
            shown = "queued" if status == "accepted" else status
            if status != last_status or now - last_report >= self.poll.report_every:
                say(f"request {request_id} {shown} ({_duration(now - start)})")
                last_status, last_report = status, now
            if status == "successful":
                break
            if status in ("failed", "rejected", "dismissed", "deleted"):
                raise RequestFailed(
                    f"CDS request {request_id} {status}: {self._failure_text(remote, status)}"
                )
            if status not in ("accepted", "running"):
                raise PermanentError(f"CDS request {request_id}: unknown status {status!r}")
            if now - start > self.poll.timeout:
                raise TransientError(
                    f"CDS request {request_id} still {shown} after {_duration(now - start)}"
                )
            self.sleep(interval)
            interval = min(self.poll.max, interval * 1.5)
        try:
            results = remote.get_results()
            return Result(
                request_id, results.location, results.content_length, results.content_type
            )
        except Exception as exc:
            raise classify(exc, f"reading the results of request {request_id}") from exc

    @staticmethod
    def _failure_text(remote: Remote, status: str) -> str:
        """The CDS's own words for a failed request (title, traceback, detail)."""
        try:
            remote.get_results()
        except Exception as exc:  # noqa: BLE001 - the client raises its message as HTTPError or its own error
            return _first_lines(str(exc))
        return f"status {status}"

    def download(self, result: Result, target: Path, say: Callable[[str], None]) -> float:
        """Download a result to ``target``, resuming and retrying; seconds it took.

        Raises
        ------
        TransientError
            When every attempt broke off.
        PermanentError
            On a 4xx (the result expired, access refused).
        """
        import multiurl

        start = time.monotonic()
        waits = self.retry.waits()
        attempt = 0
        while True:
            attempt += 1
            have = target.stat().st_size if target.exists() else 0
            if have > result.size:
                target.unlink()  # not a prefix of the result: start again
                have = 0
            problem: CdsError | None = None
            if have < result.size or result.size == 0:
                try:
                    multiurl.download(
                        result.href,
                        target=str(target),
                        resume_transfers=True,
                        maximum_retries=0,
                        timeout=self.timeout,
                        # What is on disk when a transfer breaks: resumption starts there.
                        chunk_size=self.chunk_size,
                        progress_bar=lambda total, initial=0, desc=None: _LoggingBar(
                            say, self.progress_every, total, initial, desc
                        ),
                    )
                except AssertionError as exc:
                    # multiurl asserts the file size against Content-Length after a
                    # transfer: a body shorter than announced.
                    problem = TransientError(f"download of {result.href} cut short: {exc}")
                except Exception as exc:  # noqa: BLE001 - sorted by classify, non-transient re-raised
                    problem = classify(exc, f"downloading {result.href}")
                    if not isinstance(problem, TransientError):
                        raise problem from None
            got = target.stat().st_size if target.exists() else 0
            if problem is None and got == result.size:
                seconds = time.monotonic() - start
                speed = human_bytes(got / max(seconds, 1e-9))
                say(f"downloaded {human_bytes(got)} in {seconds:.2f} s ({speed}/s)")
                return seconds
            if problem is None:
                problem = TransientError(
                    f"download of {result.href} gave {got} of {result.size} bytes"
                )
            wait = next(waits, None)
            if wait is None:
                raise TransientError(f"{problem} (gave up after {attempt} attempts)")
            say(f"{problem}; attempt {attempt + 1} in {wait:.1f} s ({human_bytes(got)} kept)")
            self.sleep(wait)

    def fetch(
        self,
        collection: str,
        request: dict[str, Any],
        target: Path,
        say: Callable[[str], None],
        request_id: str | None = None,
        on_submitted: Callable[[str], None] | None = None,
    ) -> tuple[Result, float]:
        """Submit (or follow ``request_id``), wait and download: the result and seconds.

        A known ``request_id`` (from a run that stopped while the request waited) is
        followed if the CDS still has it; otherwise the request is submitted again.
        """
        result = None
        if request_id:
            try:
                remote = self.remote(request_id)
                say(f"following request {request_id} submitted earlier")
                result = self.wait(remote, say)
            except (RequestFailed, PermanentError) as exc:
                say(
                    f"request {request_id} of an earlier run cannot be used ({exc}); submitting again"
                )
        if result is None:
            remote = self.submit(collection, request)
            say(f"submitted request {remote.request_id}")
            if on_submitted is not None:
                on_submitted(remote.request_id)
            result = self.wait(remote, say)
        seconds = self.download(result, target, say)
        return result, seconds


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
