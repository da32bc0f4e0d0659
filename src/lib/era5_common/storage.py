"""Local folders and S3 behind one small interface (the IO edge of the library).

Writes are atomic: a local file is written under a temporary name in its folder and
renamed; an S3 object appears whole with a single PUT. Each process (driver or executor)
creates its own boto3 client, configured from the standard AWS environment
(``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_S3`` included, which is how tests point at a
local endpoint), with adaptive retries.

**Reads survive S3's faults.** Reading (:func:`read_object`, :func:`head_object`) and
listing (:func:`list_files`, :func:`list_with_times`) retry on what S3 does now and then
at scale: 5xx answers (``503 SlowDown``, ``500 InternalError``), timeouts, and a
connection dropped in the middle of a body (``IncompleteRead``,
``ResponseStreamingError``...). They own their retries: their client makes one attempt
per call, so that a body cut mid-way is resumed from its first missing byte (botocore
retries a request only until its headers arrive) and every try counts once. Tries are
spaced by bounded exponential backoff with full jitter (:class:`RetryPolicy`); after the
last, :class:`S3ReadError` names the object, the fault and the number of tries. Other
errors (403, 404, a changed object's 412) are not retried.

**Anonymous reads.** Public buckets (the NSF NCAR copy of ERA5, ``nsf-ncar-era5``) need
no account: requests to a bucket for which :func:`is_anonymous` holds are sent unsigned
(botocore's ``UNSIGNED``), so no credentials are looked up at all. The default is
unsigned for :data:`ANONYMOUS_BY_DEFAULT` and signed otherwise; :func:`use_anonymous`
sets it per bucket or for every bucket, in this process and the ones it starts.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import logging
import os
import random
import shutil
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # types-boto3's stubs (dev extras); never needed at run time
    from botocore.awsrequest import AWSPreparedRequest
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef, ObjectTypeDef

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONTENT_TYPES = {
    ".geojson": "application/geo+json",
    ".json": "application/json",
    ".png": "image/png",
    ".parquet": "application/vnd.apache.parquet",
    ".nc": "application/x-netcdf",
    ".arrow": "application/vnd.apache.arrow.stream",
}


def is_s3(path: str) -> bool:
    """Whether ``path`` is an ``s3://`` (or ``s3a://``) URI."""
    return str(path).startswith(("s3://", "s3a://"))


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``."""
    rest = str(uri).split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return bucket, key


def join(base: str, *parts: str) -> str:
    """Join path parts with '/' for S3 and os.path for local folders."""
    if is_s3(base):
        return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(base, *parts)


_local = threading.local()

#: Buckets read unsigned unless :func:`use_anonymous` says otherwise: public copies that
#: need no account (the NSF NCAR ERA5 copy on AWS Open Data).
ANONYMOUS_BY_DEFAULT = frozenset({"nsf-ncar-era5"})
#: Regions of known public buckets, for unsigned requests when none is configured (an
#: unsigned request sent to the wrong region is redirected, not answered).
BUCKET_REGIONS = {"nsf-ncar-era5": "us-west-2"}
#: Where the anonymous settings live: the environment, inherited by the processes this
#: one starts (``bucket=true,*=false``; ``*`` is every bucket without a setting).
ANONYMOUS_ENV = "ERA5_S3_ANONYMOUS"


def _endpoint() -> str | None:
    # Passed explicitly: botocore reads AWS_ENDPOINT_URL itself only from 1.31, and
    # Glue 4.0 ships boto3 1.24.
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _anonymous_settings() -> dict[str, bool]:
    out = {}
    for item in filter(None, os.environ.get(ANONYMOUS_ENV, "").split(",")):
        bucket, _, value = item.partition("=")
        out[bucket.strip()] = value.strip().lower() in ("1", "true", "yes")
    return out


def use_anonymous(bucket: str, anonymous: bool | None) -> None:
    """Send requests to ``bucket`` unsigned (True), signed (False) or as by default (None).

    ``bucket`` ``"*"`` sets every bucket without a setting of its own (it overrides
    :data:`ANONYMOUS_BY_DEFAULT` too). The setting is kept in the environment
    (:data:`ANONYMOUS_ENV`), so the processes this one starts inherit it; a job calls
    this on the driver and in each task, as it calls :func:`use_endpoint`.
    """
    settings = _anonymous_settings()
    if anonymous is None:
        settings.pop(bucket, None)
    else:
        settings[bucket] = bool(anonymous)
    text = ",".join(f"{b}={'true' if v else 'false'}" for b, v in sorted(settings.items()))
    if text:
        os.environ[ANONYMOUS_ENV] = text
    else:
        os.environ.pop(ANONYMOUS_ENV, None)


def is_anonymous(bucket: str | None) -> bool:
    """Whether requests to ``bucket`` go unsigned (None: no bucket in particular)."""
    settings = _anonymous_settings()
    if bucket is not None and bucket in settings:
        return settings[bucket]
    if "*" in settings:
        return settings["*"]
    return bucket in ANONYMOUS_BY_DEFAULT


def _new_client(*, anonymous: bool, region: str | None, reads: bool) -> S3Client:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    options: dict[str, Any] = {}
    if anonymous:
        options["signature_version"] = UNSIGNED
    if reads:
        # One attempt per call: the read loops retry, resuming a cut body where it broke.
        timeouts = timeouts_from_env()
        options.update(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=timeouts[0],
            read_timeout=timeouts[1],
        )
    else:
        options["retries"] = {"max_attempts": 10, "mode": "adaptive"}
    return boto3.session.Session().client(
        "s3", config=Config(**options), endpoint_url=_endpoint() or None, region_name=region
    )


def _cached_client(bucket: str | None, *, reads: bool) -> S3Client:
    """The calling thread's client of a kind, made anew when the process or endpoint changed."""
    anonymous = is_anonymous(bucket)
    region = None
    if anonymous and not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        region = BUCKET_REGIONS.get(bucket or "")
    key = (reads, anonymous, region, _endpoint(), timeouts_from_env() if reads else None)
    # A test resets ``_local.s3`` to None to drop the clients made inside a moto mock:
    # every kind follows.
    if getattr(_local, "clients_pid", None) != os.getpid() or (
        "s3" in _local.__dict__ and _local.s3 is None
    ):
        _local.clients, _local.clients_pid = {}, os.getpid()
        _local.__dict__.pop("s3", None)
    clients: dict[tuple[Any, ...], S3Client] = _local.clients
    client = clients.get(key)
    if client is None:
        client = clients[key] = _new_client(anonymous=anonymous, region=region, reads=reads)
    return client


def s3_client(bucket: str | None = None) -> S3Client:
    """A boto3 S3 client for this process and thread (boto3 clients are not fork-safe).

    Signed with adaptive retries, or unsigned when ``bucket`` is read anonymously
    (:func:`is_anonymous`). A new one is made when the endpoint in the environment changed
    since (one process may talk to several S3 endpoints in turn, as the tests' moto
    servers do).
    """
    client = _cached_client(bucket, reads=False)
    if not is_anonymous(bucket):
        _local.s3 = client
    return client


def read_client(bucket: str) -> S3Client:
    """The client of the retrying reads of ``bucket``: one attempt per call, timeouts set.

    Unsigned when ``bucket`` is read anonymously. The timeouts come from
    ``ERA5_S3_CONNECT_TIMEOUT`` and ``ERA5_S3_READ_TIMEOUT`` (seconds; 10 and 60).
    """
    return _cached_client(bucket, reads=True)


def timeouts_from_env() -> tuple[float, float]:
    """``(connect, read)`` timeouts of the read client, in seconds."""
    return (
        float(os.environ.get("ERA5_S3_CONNECT_TIMEOUT") or 10.0),
        float(os.environ.get("ERA5_S3_READ_TIMEOUT") or 60.0),
    )


def use_endpoint(endpoint_url: str | None) -> None:
    """Send this process's S3 (and Glue) calls to ``endpoint_url`` (e.g. a moto server).

    Sets ``AWS_ENDPOINT_URL``, which :func:`s3_client` hands to boto3 (whatever its version)
    and the Glue catalog gets from the job, so the driver and every executor process follow
    the job's ``--aws_endpoint_url`` the same way; no-op when empty.
    """
    if endpoint_url and os.environ.get("AWS_ENDPOINT_URL") != endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        _local.s3 = _local.s3_exclusive = None


# --------------------------------------------------------------------------- retried reads


@dataclass(frozen=True)
class RetryPolicy:
    """How reads retry: ``tries`` in all, waits of up to ``base * 2**(n-1)`` (<= ``cap``).

    The wait before try n+1 is drawn uniformly in [0, min(cap, base * 2**(n-1))] ("full
    jitter"): the executors that S3 slowed down together do not come back together.
    """

    tries: int = 8
    base: float = 0.25
    cap: float = 20.0

    def delay(self, tries: int) -> float:
        """Seconds to wait after ``tries`` failed tries."""
        return random.uniform(0.0, min(self.cap, self.base * 2 ** (tries - 1)))


def retry_policy() -> RetryPolicy:
    """The read retry policy: ``ERA5_S3_RETRY`` (``tries=8,base=0.25,cap=20``) or defaults.

    From the environment so that every process of a run (and of a test) uses the same.
    """
    values: dict[str, float] = {}
    for item in filter(None, os.environ.get("ERA5_S3_RETRY", "").split(",")):
        name, _, value = item.partition("=")
        values[name.strip()] = float(value)
    default = RetryPolicy()
    return RetryPolicy(
        tries=max(1, int(values.get("tries", default.tries))),
        base=values.get("base", default.base),
        cap=values.get("cap", default.cap),
    )


class S3ReadError(OSError):
    """An S3 read or listing that failed on every try; names the object, fault and tries."""

    def __init__(self, what: str, fault: str, tries: int) -> None:
        self.what = what
        self.fault = fault
        self.tries = tries
        super().__init__(f"{what}: {fault}; gave up after {tries} tries")


_survived: dict[str, int] = {}
_survived_lock = threading.Lock()


def survived() -> dict[str, int]:
    """Faults this process's reads retried past so far, by kind (for logs and tests)."""
    with _survived_lock:
        return dict(_survived)


def _stream_errors() -> tuple[type[BaseException], ...]:
    """Errors of a connection that broke or stalled, whatever the botocore version."""
    from botocore import exceptions as bex

    names = (
        "ResponseStreamingError",  # botocore >= 1.29 wraps a broken body in it
        "IncompleteReadError",  # a body shorter than its Content-Length
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "EndpointConnectionError",
        "HTTPClientError",
    )
    found: list[type[BaseException]] = [getattr(bex, n) for n in names if hasattr(bex, n)]
    # botocore 1.27 (Glue 4.0) parses a listing whose body was cut as it came, and fails
    # on the truncated XML; later versions see the short body first.
    from botocore.parsers import ResponseParserError

    found.append(ResponseParserError)
    try:  # botocore 1.27 (Glue 4.0) lets urllib3's errors out of a body's read
        from urllib3 import exceptions as u3

        found += [u3.ProtocolError, u3.ReadTimeoutError]
    except ImportError:  # pragma: no cover - urllib3 comes with botocore
        pass
    return (*found, http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError)


#: S3 error codes worth another try besides any 5xx answer.
_RETRIED_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"}


def transient_fault(exc: BaseException) -> str | None:
    """A short name of a fault worth retrying (``"503 SlowDown"``), or None."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(error.get("Code") or "")
        if status >= 500 or code in _RETRIED_CODES:
            # An answer without a body (HEAD) has its status for a code.
            return f"{status} {code}" if code and code != str(status) else str(status or code)
        return None
    if isinstance(exc, _stream_errors()):
        name = type(exc).__name__
        # The wrapped urllib3 error says whether the body was cut; its byte counts would
        # make every try's fault look different.
        cut = "IncompleteRead" in str(exc) and name != "IncompleteRead"
        return f"{name} (IncompleteRead)" if cut else name
    return None


def _retrying(what: str, attempt: Callable[[], T], resumed: Callable[[], bool] | None = None) -> T:
    """``attempt()`` until it succeeds, retrying transient faults by :func:`retry_policy`.

    ``resumed`` tells whether bytes of the body are kept, so that the next try asks for
    the rest only (for the log). Every try counts, progress or not: a connection that
    always breaks ends too.
    """
    policy = retry_policy()
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except Exception as exc:  # classified just below: most are raised again
            fault = transient_fault(exc)
            if fault is None:
                raise
            if tries >= policy.tries:
                raise S3ReadError(what, fault, tries) from exc
            with _survived_lock:
                # Whole: botocore >= 1.40 names a short body and a reset alike
                # (ResponseStreamingError), the cause in brackets tells them apart.
                _survived[fault] = _survived.get(fault, 0) + 1
            wait = policy.delay(tries)
            logger.warning(
                "%s: %s (try %d of %d%s); again in %.2f s",
                what,
                fault,
                tries,
                policy.tries,
                ", resuming" if resumed is not None and resumed() else "",
                wait,
            )
            time.sleep(wait)


#: Size of the reads of a body: what a cut costs at most is re-requesting from the last.
_READ_CHUNK = 1 << 20


def read_object(uri: str, start: int = 0, end: int | None = None, etag: str | None = None) -> bytes:
    """Bytes ``[start, end)`` of an S3 object (``end`` None: to its end), surviving faults.

    A body cut mid-way is resumed from its first missing byte, pinned by ``If-Match`` to
    the version the first answer came from (``etag`` pins every try from the start): a
    replaced object fails with 412 rather than mixing two versions.

    Raises
    ------
    S3ReadError
        After the last try of a transient fault.
    botocore.exceptions.ClientError
        For other answers (403, 404, 412...), at once.
    """
    bucket, key = split_s3(uri)
    client = read_client(bucket)
    out = bytearray()
    state: dict[str, Any] = {"etag": etag, "end": end}

    def attempt() -> bytes:
        pos = start + len(out)
        stop = state["end"]
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if pos or stop is not None:
            kwargs["Range"] = f"bytes={pos}-{'' if stop is None else stop - 1}"
        if state["etag"]:
            kwargs["IfMatch"] = state["etag"]
        response = client.get_object(**kwargs)
        state["etag"] = state["etag"] or response.get("ETag")
        if stop is None:
            stop = state["end"] = pos + int(response["ContentLength"])
        total = str(response.get("ContentRange") or "").rpartition("/")[2]
        if total.isdigit() and int(total) < stop:
            # Asked past the object's end: what there is is all there will be.
            stop = state["end"] = max(pos, int(total))
        body = response["Body"]
        complete = False
        try:
            while start + len(out) < stop:
                chunk = body.read(min(_READ_CHUNK, stop - start - len(out)))
                if not chunk:
                    break
                out.extend(chunk)
            complete = start + len(out) >= stop
            if complete:
                body.read()  # the body's end: its connection goes back to the pool
        finally:
            if not complete:
                body.close()  # a broken connection is not reused
        if start + len(out) < stop:
            # A body ending early without an error (no Content-Length check): a cut too.
            raise http.client.IncompleteRead(b"", stop - start - len(out))
        return bytes(out)

    where = uri if start == 0 and end is None else f"{uri} bytes {start}..{(end or 0) - 1}"
    return _retrying(where, attempt, resumed=lambda: bool(out))


def head_object(uri: str) -> dict[str, Any]:
    """``HeadObject`` of an S3 object (size, ETag...), surviving transient faults."""
    bucket, key = split_s3(uri)
    client = read_client(bucket)
    return dict(_retrying(uri, lambda: client.head_object(Bucket=bucket, Key=key)))


def exists(path: str) -> bool:
    """Whether a file or object is there (one HEAD on S3, surviving transient faults)."""
    if not is_s3(path):
        return Path(_strip_file_scheme(path)).is_file()
    from botocore.exceptions import ClientError

    try:
        head_object(path)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def exists_folder(path: str) -> bool:
    """Whether a folder (or S3 prefix) holds anything (one short listing on S3)."""
    if not is_s3(path):
        return Path(_strip_file_scheme(path)).is_dir()
    bucket, key = split_s3(path)
    client = read_client(bucket)
    prefix = key.rstrip("/") + "/"
    page = _retrying(
        f"listing s3://{bucket}/{prefix}",
        functools.partial(client.list_objects_v2, Bucket=bucket, Prefix=prefix, MaxKeys=1),
    )
    return bool(page.get("KeyCount") or page.get("Contents"))


def _list_objects(bucket: str, prefix: str) -> Iterator[ObjectTypeDef]:
    """Every object under ``prefix``, one page at a time, each page retried alone."""
    client = read_client(bucket)
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = _retrying(
            f"listing s3://{bucket}/{prefix}",
            functools.partial(client.list_objects_v2, **kwargs),
        )
        yield from page.get("Contents", [])
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


def list_files(prefix: str, suffixes: tuple[str, ...] = (".nc",)) -> list[str]:
    """Files under a folder or S3 prefix (recursively) whose name ends with ``suffixes``."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        if key and not key.endswith("/"):
            key += "/"
        out = [
            f"s3://{bucket}/{obj['Key']}"
            for obj in _list_objects(bucket, key)
            if obj["Key"].endswith(suffixes)
        ]
        return sorted(out)
    root = Path(prefix)
    if root.is_file():
        return [str(root)] if root.name.endswith(suffixes) else []
    if not root.is_dir():
        raise FileNotFoundError(f"input folder not found: {prefix}")
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and p.name.endswith(suffixes))


def read_bytes(path: str) -> bytes:
    """The whole content of a local file or S3 object."""
    if is_s3(path):
        return read_object(path)
    return Path(path).read_bytes()


def write_bytes(path: str, data: bytes, content_type: str | None = None) -> str:
    """Write ``data`` so that no reader ever sees a partial file or object."""
    ctype = content_type or CONTENT_TYPES.get(Path(str(path)).suffix, "application/octet-stream")
    if is_s3(path):
        bucket, key = split_s3(path)
        s3_client(bucket).put_object(Bucket=bucket, Key=key, Body=data, ContentType=ctype)
        return path
    target = Path(path)
    with _complete_temp(target, data) as tmp:
        os.replace(tmp, target)
    return str(target)


@contextlib.contextmanager
def _complete_temp(target: Path, data: bytes) -> Iterator[Path]:
    """A hidden temporary file next to ``target`` holding all of ``data``, synced to disk.

    Removed afterwards unless it was renamed into place.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def create_exclusive(path: str, data: bytes) -> bool:
    """Create ``path`` with ``data`` only if nothing exists there; whether it was created.

    The primitive of the commit lease: of several writers racing for one name, exactly one
    wins. Locally a hard link of a complete temporary file (``link`` fails on an existing
    name, and readers never see a partial record); on S3 a conditional PUT
    (``If-None-Match: *``), refused with 412 (or 409 while another conditional write of the
    same key is in flight).
    """
    if is_s3(path):
        bucket, key = split_s3(path)
        client = _exclusive_s3_client()
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=CONTENT_TYPES[".json"])
        except client.exceptions.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (409, 412):
                return False
            raise
        return True
    target = Path(path)
    with _complete_temp(target, data) as tmp:
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        return True


def _exclusive_s3_client() -> S3Client:
    """An S3 client whose every PutObject carries ``If-None-Match: *``.

    The header goes in through botocore's event hook rather than the ``IfNoneMatch``
    parameter, which botocore knows only from 1.35 (Glue 4.0 ships 1.27).
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client: S3Client | None = getattr(_local, "s3_exclusive", None)
    if (
        client is None
        or getattr(_local, "pid_exclusive", None) != os.getpid()
        or getattr(_local, "endpoint_exclusive", None) != endpoint
    ):  # a changed endpoint gets a new client, as in s3_client
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3", config=Config(retries={"max_attempts": 10}), endpoint_url=endpoint or None
        )

        def if_none_match(request: AWSPreparedRequest, **_: Any) -> None:
            request.headers["If-None-Match"] = "*"

        client.meta.events.register("before-sign.s3.PutObject", if_none_match)
        _local.s3_exclusive, _local.pid_exclusive = client, os.getpid()
        _local.endpoint_exclusive = endpoint
    return client


def list_with_times(prefix: str) -> list[tuple[str, float]]:
    """Every file under a folder or S3 prefix with its modification time (epoch seconds)."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        key = key.rstrip("/") + "/"
        return [
            (f"s3://{bucket}/{obj['Key']}", obj["LastModified"].timestamp())
            for obj in _list_objects(bucket, key)
        ]
    root = Path(_strip_file_scheme(prefix))
    if not root.is_dir():
        return []
    out = []
    for path in root.rglob("*"):
        try:
            info = path.stat()
        except FileNotFoundError:
            # Listing races with writers: another process's temporary file is renamed or
            # linked and removed, or a record pruned, between the walk and this stat.
            continue
        if stat.S_ISREG(info.st_mode):
            out.append((str(path), info.st_mtime))
    return out


def _strip_file_scheme(path: str) -> str:
    return str(path)[len("file://") :] if str(path).startswith("file://") else str(path)


def delete(path: str) -> bool:
    """Remove a file or object if it exists; True if something was removed."""
    if str(path).startswith("file://"):
        path = str(path)[len("file://") :]
    if is_s3(path):
        bucket, key = split_s3(path)
        client = s3_client(bucket)
        try:
            client.head_object(Bucket=bucket, Key=key)
        except client.exceptions.ClientError:
            return False
        client.delete_object(Bucket=bucket, Key=key)
        return True
    try:
        Path(path).unlink()
        return True
    except FileNotFoundError:
        return False


def move(source: str, target: str) -> str:
    """Move a file or object so that ``target`` appears whole (replacing what was there).

    Local: one rename (atomic within a file system). S3: a server-side copy, which keeps
    the content type, then the source is deleted.
    """
    if is_s3(source) != is_s3(target):
        raise ValueError(f"cannot move between S3 and local storage: {source} -> {target}")
    if is_s3(source):
        src_bucket, src_key = split_s3(source)
        bucket, key = split_s3(target)
        # Managed copy: multipart above 5 GB, where a single CopyObject stops.
        s3_client(bucket).copy({"Bucket": src_bucket, "Key": src_key}, bucket, key)
        s3_client(src_bucket).delete_object(Bucket=src_bucket, Key=src_key)
        return target
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def delete_prefix(prefix: str) -> int:
    """Remove a local folder or every object under an S3 prefix; how many files went."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        key = key.rstrip("/") + "/"
        client = s3_client(bucket)
        removed = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": obj["Key"]} for obj in page.get("Contents", [])
            ]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                removed += len(keys)
        return removed
    root = Path(prefix)
    if not root.exists():
        return 0
    count = sum(1 for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root)
    return count
