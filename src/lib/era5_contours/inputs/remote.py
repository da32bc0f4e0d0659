"""Read S3 objects by HTTP range requests, each byte fetched about once per executor.

A monthly ERA5 file is 1-3 GB; a day needs the chunks that hold its hours, and the
planner only the metadata and the time coordinate. So nothing is downloaded whole:

- **Planning** (:func:`planning_file`) opens an object through fsspec's in-memory
  ``BlockCache`` of :data:`PLANNING_BLOCK` bytes over ranged GETs: h5netcdf reads the
  metadata and the time coordinate, a few tens of kB of a CDS file (it keeps them at the
  front), and no disk is used.
- **Days** (:func:`day_file`) read through an *executor-shared* sparse copy of the object
  (:class:`SharedCopy`) in a folder that belongs to the run (:func:`run_folder`): Spark
  spreads one day per task over a machine's Python workers, and a CDS file often stores a
  month of a variable in one chunk, so without sharing each worker would fetch the same
  bytes again (4x on ``local[4]``). The copy fetches :data:`PAGE`-aligned runs of the
  pages a read needs that no process of the machine has fetched yet, one GET per run,
  with a byte-range lock on the page map so that two processes never fetch the same page.
  fsspec's ``ReadAheadCache`` in front keeps h5py's many small reads off the disk.
- **NetCDF3 (classic)** files cannot be read by h5py and are small: they are downloaded
  whole, once per machine, into the run's folder (:func:`classic_copy`).

Why boto3 and not s3fs: s3fs rides on aiobotocore, which pins one botocore release.
Glue 4.0 provides boto3 1.24.70 / botocore 1.27.59 with s3fs 2022.11.0, and s3fs pins
fsspec to its own release, while pyiceberg needs fsspec >= 2023.1; a newer s3fs needs an
aiobotocore (and botocore) that would replace the SDK Glue runs on. A ranged
``get_object`` through :func:`~era5_common.storage.s3_client` works with every boto3
since 1.24 and follows the job's endpoint override like every other S3 call.

Every GET carries ``IfMatch`` with the ETag seen when the object was opened: an object
replaced during a run fails the read naming it, never mixes two versions' bytes, and a
run folder never serves pages of an older version (the copy's name includes the ETag).

Every GET and HEAD survives S3's transient faults (:func:`~era5_common.storage.read_object`):
5xx answers and timeouts are retried with bounded exponential backoff, and a body cut
mid-way is resumed from its first missing byte; after the last try the read fails with
:class:`~era5_common.storage.S3ReadError`, naming the object, the byte range, the fault
and the number of tries, and so does the day that needed it. Requests to a bucket read
anonymously (:func:`~era5_common.storage.is_anonymous`: the NSF NCAR copy by default) go
unsigned.

The run folder is bounded (:data:`MAX_FOLDER_BYTES`: an object that does not fit once
idle copies are evicted is read without a disk copy) and removed when the run ends
(:func:`drop_run_folders`, called by the driver on every machine it can reach), or, on
a machine the driver did not reach, by the next process of a later run that finds it
unused (every process using a run folder holds a shared lock on it until it dies or
moves to another run).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from era5_common import storage

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from fsspec.caching import BaseCache
    from pyspark import SparkContext

logger = logging.getLogger(__name__)

#: Granularity of the shared copies (page map, alignment of GETs): small enough that the
#: metadata at the front of a file costs one page, large enough to keep the map small
#: (one byte per page: 96 kB for a 3 GB object).
PAGE = 32 * 1024
#: The planner's block: a CDS file's metadata and time coordinate fit in one.
PLANNING_BLOCK = 32 * 1024
#: Blocks the planner's in-memory cache keeps (at most 2 MB per file).
PLANNING_BLOCKS = 64
#: Bound of one run folder on one machine (the sparse copies' allocated bytes).
MAX_FOLDER_BYTES = 8 * 1024**3

_CLASSIC_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_ROOT_NAME = "era5-contours-s3"

_counts = {"bytes": 0, "requests": 0}
_counts_lock = threading.Lock()


def fetched() -> dict[str, int]:
    """Bytes and GET requests this process fetched from S3 so far (for logs and tests)."""
    with _counts_lock:
        return dict(_counts)


@dataclass(frozen=True)
class S3Object:
    """One version of an object: what every ranged GET of a read is pinned to."""

    uri: str
    bucket: str
    key: str
    size: int
    etag: str

    @property
    def digest(self) -> str:
        """A file name for this version of this object."""
        text = f"{self.uri}\0{self.etag}\0{self.size}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def head(uri: str) -> S3Object:
    """Size and ETag of an S3 object (a HEAD request, no body; retried on transient faults)."""
    bucket, key = storage.split_s3(uri)
    meta = storage.head_object(uri)
    return S3Object(uri, bucket, key, int(meta["ContentLength"]), str(meta["ETag"]))


def fetch_range(obj: S3Object, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of ``obj`` (clipped to its size), pinned to its ETag.

    One ranged GET when all goes well; on a transient fault the missing bytes only are
    asked for again (:func:`~era5_common.storage.read_object`).
    """
    end = min(end, obj.size)  # fsspec's caches ask for whole blocks past the end
    if end <= start:
        return b""
    data = storage.read_object(obj.uri, start, end, etag=obj.etag)
    if len(data) != end - start:
        raise OSError(
            f"{obj.uri}: asked for bytes {start}..{end - 1}, got {len(data)} bytes "
            "(was the object truncated?)"
        )
    with _counts_lock:
        _counts["bytes"] += len(data)
        _counts["requests"] += 1
    return data


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over a fetcher of byte ranges (what h5py reads from).

    Parameters
    ----------
    name
        The object's URI, for messages.
    size
        The object's size.
    cache
        An ``fsspec.caching`` cache whose fetcher returns the object's bytes.
    on_close
        Called once when the file closes (releases a shared copy).
    """

    def __init__(
        self,
        name: str,
        size: int,
        cache: BaseCache,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.size = size
        self._cache: BaseCache | None = cache
        self._pos = 0
        self._on_close = on_close

    def readable(self) -> bool:
        """Always: the file is read-only."""
        return True

    def seekable(self) -> bool:
        """Always: every byte range can be fetched."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the end."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, f"negative seek position in {self.name}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill ``buffer`` from the current position; the byte count (0 at the end)."""
        view = memoryview(buffer).cast("B")
        end = min(self._pos + len(view), self.size)
        if end <= self._pos:
            return 0
        if self._cache is None:
            raise ValueError(f"I/O operation on closed file {self.name}")
        data = self._cache._fetch(self._pos, end)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        """Drop the cache and release the shared copy."""
        if not self.closed:
            self._cache = None
            if self._on_close is not None:
                self._on_close()
                self._on_close = None
        super().close()


def planning_file(obj: S3Object) -> RangeFile:
    """The object for the planner: ranged GETs through a small in-memory block cache."""
    from fsspec.caching import BlockCache

    cache = BlockCache(
        PLANNING_BLOCK, lambda a, b: fetch_range(obj, a, b), obj.size, maxblocks=PLANNING_BLOCKS
    )
    return RangeFile(obj.uri, obj.size, cache)


# --------------------------------------------------------------------------- run folders


def _root() -> Path:
    return Path(tempfile.gettempdir()) / _ROOT_NAME


def _safe(scope: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", scope)[:120]
    if not name.strip("."):
        raise ValueError(f"not a usable run scope: {scope!r}")
    return name


_active: dict[str, object] = {}  # this process's run folder: {"scope", "fd", "pid"}
_active_lock = threading.Lock()


def run_folder(scope: str) -> Path:
    """The run's folder on this machine, shared by its Python worker processes.

    The process holds a shared lock on the folder's lock file from now until it dies or
    moves to another run; a folder nobody holds is stale and removed by the next process
    that enters a run (a driver that died before its cleanup leaves nothing for long).
    """
    name = _safe(scope)
    root = _root()
    with _active_lock:
        if _active.get("scope") == name and _active.get("pid") == os.getpid():
            return root / name
        _leave()
        root.mkdir(mode=0o700, exist_ok=True)
        lock_path = root / f"{name}.lock"
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            # A sweeper may have removed the lock file between open and flock: then this
            # lock guards nothing, and the folder must be claimed again.
            if _same_file(fd, lock_path):
                break
            os.close(fd)
        (root / name).mkdir(mode=0o700, exist_ok=True)
        _active.update(scope=name, fd=fd, pid=os.getpid())
    _sweep(root, keep=name)
    return root / name


def _leave() -> None:
    fd = _active.get("fd")
    if isinstance(fd, int) and _active.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            os.close(fd)  # releases the shared lock
    _active.clear()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return (st.st_dev, st.st_ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino)


def _lock_if_idle(path: Path) -> int | None:
    """A descriptor of ``path`` holding its exclusive ``flock`` (closing releases it).

    None if the file is gone or another process holds a lock on it.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _sweep(root: Path, keep: str | None = None) -> None:
    """Remove the run folders no live process holds (runs that ended or died)."""
    for lock_path in root.glob("*.lock"):
        name = lock_path.name[: -len(".lock")]
        if name == keep:
            continue
        fd = _lock_if_idle(lock_path)
        if fd is None:
            continue  # gone, or in use by a process of that run
        try:
            if _same_file(fd, lock_path):
                shutil.rmtree(root / name, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def drop_run_folder(scope: str) -> bool:
    """Remove this machine's folder of a run that has ended; True if there was one.

    The run's processes may still be alive (Spark reuses its Python workers), so their
    shared locks are not waited for: the caller knows that no task of the run is left.
    """
    name = _safe(scope)
    root = _root()
    with _active_lock:
        if _active.get("scope") == name:
            _leave()
    folder = root / name
    existed = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    (root / f"{name}.lock").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        root.rmdir()  # only when empty
    return existed


def drop_run_folders(sc: SparkContext, scope: str) -> None:
    """At the end of a run: remove its folder on the driver's and the executors' machines.

    A few tasks per core reach every executor in practice; a machine missed here is swept
    by the next run's processes (and a Glue job's executors end with the job).
    """
    drop_run_folder(scope)
    try:
        slots = max(1, sc.defaultParallelism) * 2

        def drop(_: int) -> None:
            drop_run_folder(scope)

        sc.parallelize(range(slots), slots).foreach(drop)
    except Exception as exc:  # noqa: BLE001 - cleanup is best effort; sweeping covers it
        logger.warning(
            "could not remove the read caches of run %s on the executors: %s", scope, exc
        )


# --------------------------------------------------------------------------- shared copies


class SharedCopy:
    """An object's pages as the processes of one machine fetched them, in one sparse file.

    The file starts with the page map (one byte per :data:`PAGE`, 1 when the page holds
    the object's bytes), then the object's bytes at ``offset``: one inode, so the map and
    the bytes can never belong to two different files. A process fills missing pages
    under a POSIX byte-range lock on their map bytes; a process that wanted the same pages
    waits and then finds them present. A shared ``flock`` marks the copy in use, so that
    eviction (exclusive ``flock``) never removes a copy someone reads.
    """

    def __init__(self, obj: S3Object, path: Path):
        self.obj = obj
        self.path = path
        self.pages = -(-obj.size // PAGE)
        self.offset = -(-self.pages // PAGE) * PAGE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _same_file(fd, path):  # not evicted between open and flock
                break
            os.close(fd)
        self._fd = fd
        os.utime(fd)  # the eviction order: least recently opened first

    def close(self) -> None:
        """Stop using the copy (closing the descriptor releases both kinds of lock)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _map(self, first: int, last: int) -> bytes:
        got = os.pread(self._fd, last - first, first)
        return got + b"\0" * (last - first - len(got))

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object, fetching the pages no one fetched yet."""
        end = min(end, self.obj.size)
        if end <= start:
            return b""
        first, last = start // PAGE, (end - 1) // PAGE + 1
        if b"\0" in self._map(first, last):
            self._fill(first, last)
        return _pread_exact(self._fd, end - start, self.offset + start)

    def _fill(self, first: int, last: int) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_EX, last - first, first)
        try:
            present = self._map(first, last)  # another process may have filled them meanwhile
            page = first
            while page < last:
                if present[page - first]:
                    page += 1
                    continue
                run_end = page
                while run_end < last and not present[run_end - first]:
                    run_end += 1
                start, stop = page * PAGE, min(run_end * PAGE, self.obj.size)
                data = fetch_range(self.obj, start, stop)
                _pwrite_all(self._fd, data, self.offset + start)
                # The map byte is written after the bytes it vouches for.
                _pwrite_all(self._fd, b"\1" * (run_end - page), page)
                page = run_end
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, last - first, first)


def _pread_exact(fd: int, size: int, offset: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        chunk = os.pread(fd, size - len(out), offset + len(out))
        if not chunk:
            raise OSError(f"shared copy shorter than expected at {offset + len(out)}")
        out += chunk
    return bytes(out)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _allocated(path: Path) -> int:
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def _opened_at(path: Path) -> float:
    """When a copy was last opened (0 once another process evicted it meanwhile)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _make_room(folder: Path, need: int, limit: int, keep: Path) -> bool:
    """Evict idle copies, least recently opened first, until ``need`` more bytes fit."""
    others = [p for p in folder.iterdir() if p.is_file() and p != keep]
    used = sum(_allocated(p) for p in others) + _allocated(keep)
    if used + need <= limit:
        return True
    # Only page copies are evicted: their readers hold a shared flock that protects them.
    copies = [p for p in others if p.suffix == ".pages"]
    for path in sorted(copies, key=_opened_at):
        fd = _lock_if_idle(path)
        if fd is None:
            continue  # gone, or someone reads it
        try:
            if _same_file(fd, path):
                used -= _allocated(path)
                path.unlink()
        finally:
            os.close(fd)
        if used + need <= limit:
            return True
    return False


def day_file(obj: S3Object, folder: Path | None, *, max_bytes: int = MAX_FOLDER_BYTES) -> RangeFile:
    """The object for a day's reads: through the machine's shared copy in ``folder``.

    Without a folder, or when the object does not fit in the folder's bound, the reads go
    straight to S3 through the in-memory cache only (bounded disk over fewer fetches).
    """
    from fsspec.caching import ReadAheadCache

    copy: SharedCopy | None = None
    if folder is not None:
        path = folder / f"{obj.digest}.pages"
        if _make_room(folder, obj.size - _allocated(path), max_bytes, keep=path):
            copy = SharedCopy(obj, path)
        else:
            logger.warning(
                "%s (%d bytes) does not fit the read cache's %d bytes: reading without it",
                obj.uri,
                obj.size,
                max_bytes,
            )
    fetcher = copy.read if copy is not None else (lambda a, b: fetch_range(obj, a, b))
    cache = ReadAheadCache(PAGE, fetcher, obj.size)
    return RangeFile(obj.uri, obj.size, cache, on_close=copy.close if copy is not None else None)


def is_classic(head_bytes: bytes) -> bool:
    """Whether a file starting with these bytes is NetCDF3 (classic, 64-bit offset or CDF-5)."""
    return head_bytes[:4] in _CLASSIC_MAGIC


def classic_copy(obj: S3Object, folder: Path | None) -> str | bytes:
    """A NetCDF3 object whole: a file in the run's folder (downloaded once per machine).

    Without a folder (planning), its bytes in memory.
    """
    if folder is None:
        return fetch_range(obj, 0, obj.size)
    target = folder / f"{obj.digest}.nc"
    lock_fd = os.open(folder / f"{obj.digest}.nc.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # one download per machine; the others wait
        if not target.exists():
            tmp = folder / f".{obj.digest}.{uuid.uuid4().hex}.part"
            try:
                with open(tmp, "wb") as fh:
                    fh.write(fetch_range(obj, 0, obj.size))
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
    finally:
        os.close(lock_fd)
    return str(target)
