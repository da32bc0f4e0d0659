"""A counting reverse proxy in front of an S3 endpoint (a moto server in tests).

Measures what a job fetches from an input bucket as the network sees it: every request
goes through the proxy to the real endpoint, and the body bytes of each successful GET of
an object in the watched bucket are added to the current phase (:meth:`CountingProxy.mark`).
Used by ``tests/test_s3_reads.py`` and ``benchmarks/bench_s3_reads.py``; S3 clients reach
it with path-style addressing, which botocore uses for an IP endpoint.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
from collections.abc import Sequence
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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


class CountingProxy:
    """Forward HTTP to ``upstream``; count GET bytes of ``bucket``'s objects per phase.

    Parameters
    ----------
    upstream
        The S3 endpoint, e.g. ``http://127.0.0.1:5000``.
    bucket
        The bucket whose object GETs are counted.
    """

    def __init__(self, upstream: str, bucket: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.bucket = bucket
        self._lock = threading.Lock()
        self._phase = "start"
        self._counts: dict[str, dict[str, int]] = {}
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
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self._request_body()
                # One upstream connection per request: moto's server closes them anyway.
                conn = http.client.HTTPConnection(*proxy._upstream, timeout=120)
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
                if (
                    self.command == "GET"
                    and response.status in (200, 206)
                    and self.path.startswith(f"/{proxy.bucket}/")
                    and len(self.path.split("?", 1)[0]) > len(proxy.bucket) + 2
                ):
                    proxy._add(len(data))
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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.endpoint

    def stop(self) -> None:
        """Stop serving."""
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


def measure_job_reads(
    spark: SparkSession,
    inputs: Sequence[Path],
    start: date,
    end: date,
    output: Path,
    *,
    run_id: str = "s3-reads",
    options: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the job on S3 copies of ``inputs`` and count the bytes it fetched per phase.

    A moto server holds the inputs in :data:`INPUT_BUCKET`; the job (driver and
    executors) reaches it through a :class:`CountingProxy`, and writes its outputs to the
    local folder ``output``. Phases: ``planning`` (listing and the executors' reading of
    each file's coordinates) and ``days`` (everything from the driver's planning on).
    The SparkSession must have been created with :func:`executor_conf`; ``options`` adds
    job options (``{"plots": "false"}``).

    Returns
    -------
    dict
        ``input_bytes``, ``planning`` and ``days`` (``{"bytes", "gets"}``), ``report``
        (the job's :class:`~era5_contours.run.pipeline.RunReport`).
    """
    import boto3
    from moto.server import ThreadedMotoServer

    from era5_contours.run import pipeline
    from era5_contours.run.config import JobConfig

    saved = {k: os.environ.get(k) for k in (*CREDENTIALS, "AWS_ENDPOINT_URL", "AWS_PROFILE")}
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = f"http://{host}:{port}"
    proxy = CountingProxy(moto, INPUT_BUCKET)
    proxy.start()
    # The driver logs the plan as soon as the executors' inspection of the inputs is
    # collected: from that line on, what the input bucket serves is the days' reading.
    marker = _PlanMarker(proxy)
    pipeline_log = logging.getLogger(pipeline.__name__)
    level = pipeline_log.level

    try:
        os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
        s3 = boto3.client("s3", endpoint_url=moto)
        s3.create_bucket(Bucket=INPUT_BUCKET)
        for path in inputs:
            s3.upload_file(str(path), INPUT_BUCKET, f"hourly/{Path(path).name}")
        config = JobConfig.from_args(
            {
                "input_path": f"s3://{INPUT_BUCKET}/hourly/",
                "output_path": str(output),
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "run_id": run_id,
                "aws_endpoint_url": proxy.endpoint,
                **(options or {}),
            }
        )
        pipeline_log.addHandler(marker)
        pipeline_log.setLevel(min(level or logging.INFO, logging.INFO))
        proxy.mark("planning")
        report = pipeline.run_contour_job(spark, config)
    finally:
        pipeline_log.removeHandler(marker)
        pipeline_log.setLevel(level)
        proxy.stop()
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    counts = proxy.counts()
    empty = {"bytes": 0, "gets": 0}
    return {
        "input_bytes": sum(Path(p).stat().st_size for p in inputs),
        "planning": counts.get("planning", empty),
        "days": counts.get("days", empty),
        "report": report,
    }
