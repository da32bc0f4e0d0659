"""A counting, fault-injecting reverse proxy in front of an S3 endpoint (a moto server in tests).

Measures what a job fetches from an input bucket as the network sees it: every request
goes through the proxy to the real endpoint, and the body bytes of each successful GET of
an object in the watched bucket are added to the current phase (:meth:`CountingProxy.mark`).
Used by ``tests/test_s3_reads.py``, ``tests/test_s3_faults.py`` and
``benchmarks/bench_s3_reads.py``; S3 clients reach it with path-style addressing, which
botocore uses for an IP endpoint.

It also plays the faults S3 shows at scale, deterministically (:class:`Fault`): a ``503
SlowDown`` or ``500 InternalError`` answer, a stall (no answer until the client's read
timeout), or a connection cut in the middle of a body (the headers and part of the body
sent, then the socket closed), for chosen requests of the watched bucket: every Nth, or
the first K, of the object GETs, range GETs, HEADs or listings, of one key or all. What it
injected is counted (:meth:`CountingProxy.faults`), and whether each request was signed
(:meth:`CountingProxy.signing`), for the tests of anonymous reads.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import socket
import struct
import threading
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from era5_common.env import patched_environ

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from era5_contours.run.config import JobConfig

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
}


#: The faults a :class:`Fault` plays, with the S3 error each answer carries.
FAULT_KINDS = ("503", "500", "stall", "cut")
_ERRORS = {
    "503": ("SlowDown", "Please reduce your request rate."),
    "500": ("InternalError", "We encountered an internal error. Please try again."),
}
#: Requests a fault can apply to: an object GET (``"get"``, with or without a Range
#: header), an object HEAD, or a listing of the bucket.
REQUEST_KINDS = ("get", "head", "list")
#: Requests :meth:`CountingProxy.requests` keeps.
LOG_LIMIT = 100_000


@dataclass
class Fault:
    """A fault played on chosen requests of the watched bucket.

    A request is a candidate when it is of kind ``on``, for ``key`` (any key when None)
    and, with ``ranged``, carries (True) or lacks (False) a Range header. Candidates are
    numbered from 1 in the order they arrive: the fault is played on the first ``first``
    of them, or on every ``every``-th (``every=3``: the 3rd, 6th...), or on all when both
    are None.

    Parameters
    ----------
    kind
        ``"503"`` (SlowDown), ``"500"`` (InternalError), ``"stall"`` (nothing is sent
        for ``stall_seconds``, then the connection closes: the client's read timeout
        fires first) or ``"cut"`` (the status line, headers and ``cut_after`` bytes of
        the body are sent, then the connection closes).
    on
        ``"get"``, ``"head"`` or ``"list"``.
    key
        The object key, or None for every key.
    ranged
        True for range GETs only, False for whole-object GETs only, None for both.
    first
        Play on the first K candidates.
    every
        Play on every Nth candidate.
    stall_seconds
        How long a stall lasts (the proxy's stop ends it early).
    cut_after
        Bytes of the body sent before a cut: a count, or a fraction of the body (< 1).
    reset
        End a cut (or a stall) with a TCP reset rather than an orderly close: the client
        sees a connection error while reading, not merely a short body.
    """

    kind: str
    on: str = "get"
    key: str | None = None
    ranged: bool | None = None
    first: int | None = None
    every: int | None = None
    stall_seconds: float = 30.0
    cut_after: float = 0.5
    reset: bool = False
    seen: int = field(default=0, init=False)
    played: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r} (use {', '.join(FAULT_KINDS)})")
        if self.on not in REQUEST_KINDS:
            raise ValueError(f"unknown request kind {self.on!r} (use {', '.join(REQUEST_KINDS)})")
        if self.first is not None and self.every is not None:
            raise ValueError("give first or every, not both")

    def matches(self, on: str, key: str, ranged: bool) -> bool:
        """Whether a request of kind ``on`` for ``key`` is a candidate."""
        return (
            on == self.on
            and (self.key is None or key == self.key)
            and (self.ranged is None or ranged == self.ranged)
        )

    def take(self) -> bool:
        """Number one more candidate; whether the fault is played on it."""
        self.seen += 1
        if self.first is not None:
            hit = self.seen <= self.first
        elif self.every is not None:
            hit = self.seen % self.every == 0
        else:
            hit = True
        self.played += hit
        return hit

    def cut_bytes(self, size: int) -> int:
        """How many of a ``size``-byte body a cut lets through (always fewer than all)."""
        wanted = int(self.cut_after * size) if self.cut_after < 1 else int(self.cut_after)
        return max(0, min(wanted, size - 1))


class CountingProxy:
    """Forward HTTP to ``upstream``; count GET bytes of ``bucket``'s objects per phase.

    Parameters
    ----------
    upstream
        The S3 endpoint, e.g. ``http://127.0.0.1:5000``.
    bucket
        The bucket whose object GETs are counted and whose requests faults apply to.
    faults
        Faults to play (:class:`Fault`); more can be added with :meth:`inject`.
    """

    def __init__(self, upstream: str, bucket: str, faults: Sequence[Fault] = ()) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.bucket = bucket
        self._lock = threading.Lock()
        self._phase = "start"
        self._counts: dict[str, dict[str, int]] = {}
        self._faults: list[Fault] = list(faults)
        self._injected: dict[str, int] = {}
        self._signing = {"signed": 0, "unsigned": 0}
        self._log: list[tuple[str, str, str | None]] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ counting

    def mark(self, phase: str) -> None:
        """Count what follows under ``phase``."""
        with self._lock:
            self._phase = phase

    def counts(self) -> dict[str, dict[str, int]]:
        """``{phase: {"bytes": ..., "gets": ...}}`` of the watched bucket's object GETs."""
        with self._lock:
            return {k: dict(v) for k, v in self._counts.items()}

    def _add(self, nbytes: int) -> None:
        with self._lock:
            entry = self._counts.setdefault(self._phase, {"bytes": 0, "gets": 0})
            entry["bytes"] += nbytes
            entry["gets"] += 1

    # ------------------------------------------------------------------ faults

    def inject(self, *faults: Fault) -> None:
        """Play ``faults`` from now on (besides those already set)."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Play no more faults (the counts of those played stay)."""
        with self._lock:
            self._faults = []

    def faults(self) -> dict[str, int]:
        """``{kind: count}`` of the faults played so far (``"503"``, ``"cut"``...)."""
        with self._lock:
            return dict(self._injected)

    def signing(self) -> dict[str, int]:
        """How many requests for the watched bucket came ``signed`` and ``unsigned``."""
        with self._lock:
            return dict(self._signing)

    def requests(self) -> list[tuple[str, str, str | None]]:
        """``(kind, key, Range header)`` of the watched bucket's requests, in order.

        The first :data:`LOG_LIMIT` only: enough for a test, bounded for a benchmark.
        """
        with self._lock:
            return list(self._log)

    def _classify(self, command: str, path: str) -> tuple[str, str] | None:
        """``(kind, key)`` of a request for the watched bucket; None for other requests."""
        parts = urlsplit(path)
        prefix = f"/{self.bucket}"
        if parts.path != prefix and not parts.path.startswith(prefix + "/"):
            return None
        key = unquote(parts.path[len(prefix) + 1 :])
        if not key:
            query = parse_qs(parts.query, keep_blank_values=True)
            return ("list", "") if command == "GET" and "location" not in query else None
        if command == "GET":
            return "get", key
        if command == "HEAD":
            return "head", key
        return None

    def _fault_for(self, command: str, path: str, headers: Any) -> Fault | None:
        """The fault to play on this request, if any (counting it as a candidate)."""
        kind = self._classify(command, path)
        if kind is None:
            return None
        signed = bool(headers.get("Authorization")) or "X-Amz-Signature=" in path
        with self._lock:
            self._signing["signed" if signed else "unsigned"] += 1
            if len(self._log) < LOG_LIMIT:
                self._log.append((kind[0], kind[1], headers.get("Range")))
            ranged = bool(headers.get("Range"))
            for fault in self._faults:
                if fault.matches(kind[0], kind[1], ranged) and fault.take():
                    self._injected[fault.kind] = self._injected.get(fault.kind, 0) + 1
                    return fault
        return None

    # ------------------------------------------------------------------ serving

    @property
    def endpoint(self) -> str:
        """The proxy's URL (after :meth:`start`)."""
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Serve on a free port of 127.0.0.1 in a daemon thread; the proxy's URL."""
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.endpoint

    def stop(self) -> None:
        """Stop serving (ending the stalls under way)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


#: Credentials for a moto server: the driver's environment and the executors' (as
#: ``spark.executorEnv.*``, the way Glue workers get an instance role's).
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
INPUT_BUCKET = "era5-input"


class _PlanMarker(logging.Handler):
    """Marks the proxy's ``days`` phase at the driver's plan line (``run ...: N days``)."""

    def __init__(self, proxy: CountingProxy) -> None:
        super().__init__(logging.INFO)
        self.proxy = proxy
        self.marked = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.marked and str(record.msg).startswith("run %s: %d days"):
            self.marked = True
            self.proxy.mark("days")


def executor_conf() -> dict[str, str]:
    """Spark settings that give the executors :data:`CREDENTIALS`."""
    return {f"spark.executorEnv.{k}": v for k, v in CREDENTIALS.items()}


class _Handler(BaseHTTPRequestHandler):
    """Forwards each request to the upstream S3 endpoint, counting and faulting as told."""

    proxy: CountingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        body = self._request_body()
        fault = self.proxy._fault_for(self.command, self.path, self.headers)
        if fault is not None and fault.kind in _ERRORS:
            self._answer_error(fault.kind)
            return
        if fault is not None and fault.kind == "stall":
            # Say nothing: the client's read timeout fires; then hang up.
            self.proxy._stopping.wait(fault.stall_seconds)
            self._hang_up(reset=fault.reset)
            return
        # One upstream connection per request: moto's server closes them anyway.
        conn = http.client.HTTPConnection(*self.proxy._upstream, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                conn.putheader(name, value)
        if body or self.command in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        try:
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        watched = (
            self.command == "GET"
            and response.status in (200, 206)
            and self.path.startswith(f"/{self.proxy.bucket}/")
            and len(self.path.split("?", 1)[0]) > len(self.proxy.bucket) + 2
        )
        if fault is not None and fault.kind == "cut" and data:
            keep = fault.cut_bytes(len(data))
            if watched:  # the bytes sent before the cut were fetched all the same
                self.proxy._add(keep)
            self._cut(response, data, keep, fault.reset)
            return
        if watched:
            self.proxy._add(len(data))
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        # A HEAD response has no body but the length of the GET's.
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _answer_error(self, kind: str) -> None:
        code, message = _ERRORS[kind]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{escape(self.path)}</Resource><RequestId>fault</RequestId></Error>"
        ).encode()
        self.send_response(int(kind))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _cut(self, response: http.client.HTTPResponse, data: bytes, keep: int, reset: bool) -> None:
        """Headers promising all of ``data``, ``keep`` bytes of it, then a closed socket."""
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:keep])
        self._hang_up(reset=reset)

    def _hang_up(self, reset: bool = False) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            if reset:
                # Linger 0: closing sends RST, as a dropped connection does.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client left first

    def _request_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


def _test_credentials() -> contextlib.AbstractContextManager[None]:
    """moto's test credentials in the environment (and no profile), restored afterwards."""
    return patched_environ({**CREDENTIALS, "AWS_ENDPOINT_URL": None, "AWS_PROFILE": None})


@dataclass(frozen=True)
class Placement:
    """Where the inputs go on the S3 server, and how the job reads them.

    ``keys`` maps each input to its object key (default ``hourly/<name>``); ``public``
    uploads them readable by anyone (moto answers an unsigned request by the object's
    ACL); ``signed=False`` runs the driver without credentials (the executors get what
    their SparkSession was given).
    """

    bucket: str = "era5-input"
    keys: dict[str, str] | None = None
    input_path: str = "s3://era5-input/hourly/"
    public: bool = False
    signed: bool = True

    def key(self, path: Path) -> str:
        """The object key of an input."""
        return (self.keys or {}).get(str(path), f"hourly/{Path(path).name}")


def _upload_inputs(
    moto: str,
    inputs: Sequence[Path],
    start: date,
    end: date,
    output: Path,
    run_id: str,
    proxy: CountingProxy,
    options: dict[str, str] | None,
    placement: Placement,
) -> JobConfig:
    """The inputs uploaded to their bucket, and the job's config to read them there."""
    import boto3

    from era5_contours.run.config import JobConfig

    s3 = boto3.client(
        "s3",
        endpoint_url=moto,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    s3.create_bucket(Bucket=placement.bucket)
    extra = {"ACL": "public-read"} if placement.public else None
    for path in inputs:
        s3.upload_file(str(path), placement.bucket, placement.key(path), ExtraArgs=extra)
    return JobConfig.from_args(
        {
            "input_path": placement.input_path,
            "output_path": str(output),
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "run_id": run_id,
            "aws_endpoint_url": proxy.endpoint,
            **(options or {}),
        }
    )


def measure_job_reads(
    spark: SparkSession,
    inputs: Sequence[Path],
    start: date,
    end: date,
    output: Path,
    *,
    run_id: str = "s3-reads",
    options: dict[str, str] | None = None,
    faults: Sequence[Fault] = (),
    placement: Placement | None = None,
) -> dict[str, Any]:
    """Run the job on S3 copies of ``inputs`` and count the bytes it fetched per phase.

    A moto server holds the inputs in :data:`INPUT_BUCKET`; the job (driver and
    executors) reaches it through a :class:`CountingProxy`, and writes its outputs to the
    local folder ``output``. Phases: ``planning`` (listing and the executors' reading of
    each file's coordinates) and ``days`` (everything from the driver's planning on).
    The SparkSession must have been created with :func:`executor_conf`; ``options`` adds
    job options (``{"plots": "false"}``); ``faults`` are played by the proxy from the
    start (:class:`Fault`); ``placement`` puts the inputs elsewhere (:class:`Placement`).

    Returns
    -------
    dict
        ``input_bytes``, ``planning`` and ``days`` (``{"bytes", "gets"}``), ``report``
        (the job's :class:`~era5_contours.run.pipeline.RunReport`), ``faults`` (those
        played, by kind).
    """
    from moto.server import ThreadedMotoServer

    from era5_contours.run import pipeline

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with _test_credentials():
        server.start()
        host, port = server.get_host_and_port()
        moto = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start from an empty one.
        urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST"))
        place = placement or Placement(INPUT_BUCKET)
        proxy = CountingProxy(moto, place.bucket, faults)
        proxy.start()
        # The driver logs the plan as soon as the executors' inspection of the inputs is
        # collected: from that line on, what the input bucket serves is the days' reading.
        marker = _PlanMarker(proxy)
        pipeline_log = logging.getLogger(pipeline.__name__)
        level = pipeline_log.level
        try:
            os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
            config = _upload_inputs(moto, inputs, start, end, output, run_id, proxy, options, place)
            if not place.signed:
                for name in CREDENTIALS:
                    os.environ.pop(name, None)
            pipeline_log.addHandler(marker)
            pipeline_log.setLevel(min(level or logging.INFO, logging.INFO))
            proxy.mark("planning")
            report = pipeline.run_contour_job(spark, config)
        finally:
            pipeline_log.removeHandler(marker)
            pipeline_log.setLevel(level)
            proxy.stop()
            server.stop()
    counts = proxy.counts()
    empty = {"bytes": 0, "gets": 0}
    return {
        "input_bytes": sum(Path(p).stat().st_size for p in inputs),
        "planning": counts.get("planning", empty),
        "days": counts.get("days", empty),
        "report": report,
        "faults": proxy.faults(),
        "signing": proxy.signing(),
    }
