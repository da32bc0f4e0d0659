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
import threading
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".geojson": "application/geo+json",
    ".json": "application/json",
    ".png": "image/png",
    ".parquet": "application/vnd.apache.parquet",
    ".nc": "application/x-netcdf",
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


def s3_client():
    """A boto3 S3 client for this process and thread (boto3 clients are not fork-safe)."""
    # Passed explicitly: botocore reads AWS_ENDPOINT_URL itself only from 1.31, and Glue
    # 4.0 ships boto3 1.24. A changed endpoint gets a new client.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client = getattr(_local, "s3", None)
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
        _local.s3 = None


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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return str(target)


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
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
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
