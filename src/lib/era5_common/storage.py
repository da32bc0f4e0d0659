"""Local folders and S3 behind one small interface (the IO edge of the library).

Writes are atomic: a local file is written under a temporary name in its folder and
renamed; an S3 object appears whole with a single PUT. Each process (driver or executor)
creates its own boto3 client, configured from the standard AWS environment
(``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_S3`` included, which is how tests point at a
local endpoint), with adaptive retries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types-boto3's stubs (dev extras); never needed at run time
    from botocore.awsrequest import AWSPreparedRequest
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef

logger = logging.getLogger(__name__)

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


def s3_client() -> S3Client:
    """A boto3 S3 client for this process and thread (boto3 clients are not fork-safe).

    A new one is made when the endpoint in the environment changed since (one process
    may talk to several S3 endpoints in turn, as the tests' moto servers do).
    """
    # Passed explicitly: botocore reads AWS_ENDPOINT_URL itself only from 1.31, and
    # Glue 4.0 ships boto3 1.24.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client: S3Client | None = getattr(_local, "s3", None)
    if (
        client is None
        or getattr(_local, "pid", None) != os.getpid()
        or getattr(_local, "endpoint", None) != endpoint
    ):
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 10, "mode": "adaptive"})
        client = boto3.session.Session().client("s3", config=config, endpoint_url=endpoint or None)
        _local.s3, _local.pid, _local.endpoint = client, os.getpid(), endpoint
    return client


def use_endpoint(endpoint_url: str | None) -> None:
    """Send this process's S3 (and Glue) calls to ``endpoint_url`` (e.g. a moto server).

    Sets ``AWS_ENDPOINT_URL``, which :func:`s3_client` hands to boto3 (whatever its version)
    and the Glue catalog gets from the job, so the driver and every executor process follow
    the job's ``--aws_endpoint_url`` the same way; no-op when empty.
    """
    if endpoint_url and os.environ.get("AWS_ENDPOINT_URL") != endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        _local.s3 = _local.s3_exclusive = None


def list_files(prefix: str, suffixes: tuple[str, ...] = (".nc",)) -> list[str]:
    """Files under a folder or S3 prefix (recursively) whose name ends with ``suffixes``."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        if key and not key.endswith("/"):
            key += "/"
        paginator = s3_client().get_paginator("list_objects_v2")
        out = []
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(suffixes):
                    out.append(f"s3://{bucket}/{obj['Key']}")
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
        bucket, key = split_s3(path)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return Path(path).read_bytes()


def write_bytes(path: str, data: bytes, content_type: str | None = None) -> str:
    """Write ``data`` so that no reader ever sees a partial file or object."""
    ctype = content_type or CONTENT_TYPES.get(Path(str(path)).suffix, "application/octet-stream")
    if is_s3(path):
        bucket, key = split_s3(path)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=ctype)
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
        out = []
        paginator = s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                out.append((f"s3://{bucket}/{obj['Key']}", obj["LastModified"].timestamp()))
        return out
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
        client = s3_client()
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
        s3_client().copy({"Bucket": src_bucket, "Key": src_key}, bucket, key)
        s3_client().delete_object(Bucket=src_bucket, Key=src_key)
        return target
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def delete_prefix(prefix: str) -> int:
    """Remove a local folder or every object under an S3 prefix; how many files went."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        key = key.rstrip("/") + "/"
        client = s3_client()
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
