"""A CDS download on local disk: a NetCDF file or a ZIP of them, unpacked and described.

The current CDS answers a request that mixes instant and accumulated variables with a
ZIP of one NetCDF per stream (``data_stream-oper_stepType-instant.nc``,
``...-accum.nc``), whatever ``download_format`` says; a request of one stream (or
ERA5-Land) with one NetCDF. :func:`unpack_download` gives the NetCDF files either way
(the ZIP's CRCs checked), :func:`describe_netcdf` what each holds: its variables and its
``valid_time`` values.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import threading
import zipfile
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import netCDF4

#: First bytes of NetCDF classic / 64-bit offset / CDF5 and of HDF5 (NetCDF4) files.
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
_CHUNK = 1024 * 1024
#: Names of the time coordinate in CDS NetCDF (current, then legacy).
TIME_NAMES = ("valid_time", "time")


def _hdf5_lock() -> AbstractContextManager[Any]:
    """One lock for every netCDF4/HDF5 call of the process.

    HDF5 builds are not thread safe, and months are fetched in threads. It is xarray's
    own lock when xarray is installed, so that its reads and writes in the same process
    wait for ours too.
    """
    try:
        # By name: xarray is no dependency of the ingest (Glue Python shell has none), so
        # its type check does not read the dev environment's xarray, which needs a newer
        # Python than the 3.9 the ingest is checked for.
        locks = importlib.import_module("xarray.backends.locks")
    except ImportError:  # Glue Python shell: the ingest alone uses HDF5
        return threading.Lock()
    lock: AbstractContextManager[Any] = locks.HDF5_LOCK
    return lock


HDF5_LOCK = _hdf5_lock()


class DownloadContentError(Exception):
    """A downloaded file is not the NetCDF or ZIP of NetCDF it should be."""


@dataclass(frozen=True)
class Member:
    """One NetCDF file of a download."""

    #: Its name in the ZIP, or the download's own name.
    source_name: str
    path: Path


@dataclass(frozen=True)
class NetcdfContent:
    """What a NetCDF file holds."""

    variables: tuple[str, ...]
    times: tuple[datetime, ...]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _looks_like_netcdf(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(8)
    return any(head.startswith(magic) for magic in _NETCDF_MAGIC)


def unpack_download(path: Path, workdir: Path) -> list[Member]:
    """The NetCDF files of a download: the ZIP's members (extracted), or the file itself.

    Raises
    ------
    DownloadContentError
        A ZIP with a bad CRC, no NetCDF member or a member that is not NetCDF; a file that
        is neither ZIP nor NetCDF (an HTML error page, a truncated header).
    """
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                if bad is not None:
                    raise DownloadContentError(f"{path.name}: CRC error in ZIP member {bad}")
                members = []
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    # Only the base name: a member path never escapes the work folder.
                    name = PurePosixPath(info.filename).name
                    if not name.endswith(".nc"):
                        raise DownloadContentError(
                            f"{path.name}: ZIP member {info.filename!r} is not a NetCDF file"
                        )
                    target = workdir / f"{path.stem}.{name}"
                    with archive.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                    members.append(Member(name, target))
        except zipfile.BadZipFile as exc:
            raise DownloadContentError(f"{path.name}: broken ZIP ({exc})") from exc
        if not members:
            raise DownloadContentError(f"{path.name}: ZIP without NetCDF files")
        for member in members:
            if not _looks_like_netcdf(member.path):
                raise DownloadContentError(
                    f"{path.name}: ZIP member {member.source_name} is not NetCDF"
                )
        return members
    if not _looks_like_netcdf(path):
        with open(path, "rb") as fh:
            head = fh.read(60)
        raise DownloadContentError(
            f"{path.name}: neither NetCDF nor ZIP (starts with {head[:60]!r})"
        )
    return [Member(path.name, path)]


def _time_variable(nc: netCDF4.Dataset) -> netCDF4.Variable[Any]:
    for name in TIME_NAMES:
        if name in nc.variables:
            return nc.variables[name]
    raise DownloadContentError(f"no {' or '.join(TIME_NAMES)} coordinate")


def describe_netcdf(path: Path) -> NetcdfContent:
    """The data variables (those along time, with grid dimensions) and the valid times.

    Raises
    ------
    DownloadContentError
        When the file cannot be opened or has no time coordinate.
    """
    import netCDF4

    try:
        with HDF5_LOCK, netCDF4.Dataset(str(path), mode="r") as nc:
            time_var = _time_variable(nc)
            time_dim = time_var.dimensions[0] if time_var.dimensions else None
            units = getattr(time_var, "units", None)
            if units is None:
                raise DownloadContentError(f"time coordinate {time_var.name} has no units")
            calendar = getattr(time_var, "calendar", "standard")
            values = time_var[:]
            decoded = netCDF4.num2date(
                values,
                units,
                calendar=calendar,
                only_use_cftime_datetimes=False,
                only_use_python_datetimes=True,
            )
            # One datetime for a scalar time coordinate, else an array of them.
            stamps = [decoded] if isinstance(decoded, datetime) else list(decoded.ravel())
            times = tuple(
                datetime(t.year, t.month, t.day, t.hour, t.minute, t.second) for t in stamps
            )
            variables = tuple(
                sorted(
                    name
                    for name, var in nc.variables.items()
                    if name not in nc.dimensions
                    and len(var.dimensions) >= 2
                    and (time_dim is None or time_dim in var.dimensions)
                )
            )
    except DownloadContentError as exc:
        raise DownloadContentError(f"{path.name}: {exc}") from exc
    except (OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
        # netCDF4 raises these for unreadable or truncated files.
        raise DownloadContentError(f"{path.name}: cannot be read as NetCDF ({exc})") from exc
    if not variables:
        raise DownloadContentError(f"{path.name}: no data variable along time")
    return NetcdfContent(variables, times)


def stem_for(variables: Sequence[str]) -> str:
    """File name part from the variables a file holds (``t2m``, ``t2m-tp``)."""
    return "-".join(variables)
