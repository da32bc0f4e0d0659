"""Where the ingest writes: ``{output_path}/{dataset}/{YYYY}/{MM}/`` in a folder or on S3.

Built on :mod:`era5_common.storage` (one S3 client per thread, the same endpoint
settings as the contour job). Files can be gigabytes: they go from local disk to their
place without being read into memory, each appearing whole (a temporary name and a
rename in a folder; one PUT, or a multipart upload that S3 shows only once completed).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import uuid
from pathlib import Path

from era5_common import storage

from .cds_requests import Month
from .manifest import MANIFEST_NAME, Manifest, ManifestError

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
NETCDF_CONTENT_TYPE = "application/x-netcdf"


def month_folder(output_path: str, dataset: str, month: Month) -> str:
    """``{output_path}/{dataset}/{YYYY}/{MM}``."""
    return storage.join(output_path.rstrip("/"), dataset, f"{month.year:04d}", f"{month.month:02d}")


def check_writable(output_path: str) -> None:
    """Write and remove a probe under ``output_path`` (its name is no input of the contour job).

    Raises
    ------
    Exception
        Whatever the storage raised (permissions, missing bucket, read-only folder).
    """
    probe = storage.join(output_path.rstrip("/"), f".ingest-write-check-{uuid.uuid4().hex}")
    storage.write_bytes(probe, b"", content_type="text/plain")
    storage.delete(probe)


def read_manifest(folder: str) -> tuple[Manifest | None, str | None]:
    """The month's manifest, or ``(None, why)`` when absent or unreadable."""
    path = storage.join(folder, MANIFEST_NAME)
    try:
        data = storage.read_bytes(path)
    except FileNotFoundError:
        return None, "no manifest"
    except Exception as exc:
        if _is_missing(exc):
            return None, "no manifest"
        raise
    try:
        return Manifest.loads(data), None
    except ManifestError as exc:
        return None, f"unreadable manifest {path}: {exc}"


def write_manifest(folder: str, manifest: Manifest) -> str:
    """Write the manifest atomically."""
    return storage.write_bytes(
        storage.join(folder, MANIFEST_NAME), manifest.dumps(), content_type="application/json"
    )


def _is_missing(exc: BaseException) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return str(code) in ("404", "NoSuchKey", "NotFound")


def put_file(local: Path, target: str) -> None:
    """Place a local file at ``target`` so that no reader ever sees part of it."""
    if storage.is_s3(target):
        bucket, key = storage.split_s3(target)
        # upload_file streams from disk, in parts above 8 MB; the object exists only once
        # the upload completes.
        storage.s3_client().upload_file(
            str(local), bucket, key, ExtraArgs={"ContentType": NETCDF_CONTENT_TYPE}
        )
        return
    dest = Path(target)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(local, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def stored_digest(path: str) -> tuple[int, str] | None:
    """``(size, sha256)`` of a stored file, read in chunks; None when it does not exist."""
    digest = hashlib.sha256()
    size = 0
    if storage.is_s3(path):
        bucket, key = storage.split_s3(path)
        try:
            body = storage.s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise
        for chunk in body.iter_chunks(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    return size, digest.hexdigest()


def list_folder(folder: str) -> list[str]:
    """Names of the files directly in a month folder (not below it)."""
    if storage.is_s3(folder):
        bucket, key = storage.split_s3(folder)
        prefix = key.rstrip("/") + "/"
        names: list[str] = []
        paginator = storage.s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            names.extend(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
        return sorted(names)
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_file())


def remove(path: str) -> bool:
    """Delete a file or object; True if something was removed."""
    return storage.delete(path)
