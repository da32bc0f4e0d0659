"""A fake Climate Data Store retrieve API on 127.0.0.1, for the ingest tests.

It speaks what ``ecmwf-datastores-client`` (0.5) calls, read from its source:

- ``GET  {url}/catalogue/v1/messages`` (the client asks at start-up);
- ``POST {url}/profiles/v1/account/verification/pat`` (``check_authentication``), 401
  for an unknown ``PRIVATE-TOKEN``;
- ``GET  {url}/retrieve/v1/processes/{collection}`` then ``POST .../execution`` with
  ``{"inputs": request}``: 201 and the job (``links``: ``monitor``, ``self``), or 403
  ``cost limits exceeded`` ("Request too large ... limit is N") above the item limit, or
  400 for a request the collection does not take;
- ``GET  {url}/retrieve/v1/jobs/{id}``: ``status`` ``accepted`` -> ``running`` ->
  ``successful`` (or ``failed``), one step per poll as scheduled;
- ``GET  {url}/retrieve/v1/jobs/{id}/results``: ``{"asset": {"value": {"href", "type",
  "file:size"}}}``, or 400 ``The job has failed`` with the traceback;
- ``HEAD``/``GET {host}/download/{id}/{name}``: the file, with ``Accept-Ranges: bytes``
  and 206 answers to ``Range`` (what multiurl resumes with).

Results are NetCDF4 files in the current CDS layout cut from an archive of hourly files
(the real ERA5 files of tests/data/era5, or era5_tools.sample output): ``valid_time``,
the requested hours and area; a ZIP of ``data_stream-oper_stepType-instant.nc`` and
``data_stream-oper_stepType-accum.nc`` when an ERA5 request mixes t2m and tp; one file
for one stream, and for ERA5-Land. Faults can be injected: 5xx answers and dropped
connections while polling, downloads cut short, failed requests, an item limit.
"""

from __future__ import annotations

import io
import json
import socket
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from era5_common.variables import ACCUMULATION, QUANTITIES

KEY = "00000000-1111-2222-3333-444444444444"
COLLECTIONS = {"reanalysis-era5-single-levels": "era5", "reanalysis-era5-land": "era5-land"}
#: The CDS's request names of the fields it serves, and their streams (the CDS's own
#: naming, as the registry records it).
CDS_NAMES = {q.cds: q.name for q in QUANTITIES.values()}
STREAM = {q.name: "accum" if q.kind == ACCUMULATION else "instant" for q in QUANTITIES.values()}
#: What each collection holds.
HOLDS = {
    collection: {q.name for q in QUANTITIES.values() if dataset in q.datasets}
    for collection, dataset in COLLECTIONS.items()
}


class Archive:
    """Hourly fields (CDS layout) that requests are cut from."""

    def __init__(self, files: Sequence[Path]):
        pieces: dict[str, list[xr.Dataset]] = {}
        for path in files:
            with xr.open_dataset(path) as ds:
                for name in STREAM:
                    if name in ds.data_vars:
                        pieces.setdefault(name, []).append(ds[[name]].load())
        self.data: dict[str, xr.Dataset] = {}
        for name, parts in pieces.items():
            merged = xr.concat(parts, dim="valid_time", data_vars="minimal", coords="minimal")
            _, first = np.unique(merged["valid_time"].values, return_index=True)
            self.data[name] = merged.isel(valid_time=np.sort(first))

    def cut(self, name: str, stamps: Sequence[np.datetime64], area: Sequence[float]) -> xr.Dataset:
        """One variable at the hours the archive has among ``stamps``, inside ``area``."""
        north, west, south, east = area
        ds = self.data[name]
        have = np.isin(ds["valid_time"].values, np.asarray(stamps, dtype="datetime64[ns]"))
        ds = ds.isel(valid_time=np.flatnonzero(have))
        return ds.sel(latitude=slice(north, south), longitude=slice(west, east))


def _netcdf_bytes(ds: xr.Dataset, history: str) -> bytes:
    """A dataset as a CDS-style NetCDF4 file (zlib, int64 seconds since 1970)."""
    ds = ds.copy()
    ds.attrs = {**ds.attrs, "history": history}
    encoding: dict[str, Any] = {
        "valid_time": {
            "units": "seconds since 1970-01-01",
            "calendar": "proleptic_gregorian",
            "dtype": "int64",
        }
    }
    for name in ds.variables:
        ds[name].encoding = {}
    for name in ds.data_vars:
        if ds[name].ndim == 3:
            encoding[name] = {"zlib": True, "complevel": 1, "_FillValue": np.float32(np.nan)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.nc"
        ds.to_netcdf(path, format="NETCDF4", engine="netcdf4", encoding=encoding)
        return path.read_bytes()


@dataclass
class Job:
    """A submitted request."""

    id: str
    collection: str
    request: dict[str, Any]
    schedule: list[str]
    failure: str | None
    polls: int = 0
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    payload: bytes | None = None
    filename: str = ""
    content_type: str = ""

    @property
    def status(self) -> str:
        return self.schedule[min(self.polls, len(self.schedule) - 1)]


class FakeCDS:
    """The server; start with ``with FakeCDS(archive) as cds: cds.url``.

    Parameters
    ----------
    archive
        What results are cut from.
    queued_polls, running_polls
        Polls answered ``accepted``, then ``running``, before ``successful``.
    item_limit
        Requests asking for more fields are refused (403 ``cost limits exceeded``).
    name_limit
        Whether the refusal says the limit ("Request too large ... limit is N").
    fail_when
        ``request -> message or None``: requests that run and then fail with that message.
    hold
        ``request -> bool``: requests kept ``accepted`` (queued) while it says True.
    """

    def __init__(
        self,
        archive: Archive,
        *,
        queued_polls: int = 1,
        running_polls: int = 1,
        item_limit: int = 120_000,
        name_limit: bool = True,
        fail_when: Callable[[dict[str, Any]], str | None] | None = None,
        hold: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.archive = archive
        self.queued_polls = queued_polls
        self.running_polls = running_polls
        self.item_limit = item_limit
        self.name_limit = name_limit
        self.fail_when = fail_when
        self.hold = hold
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        #: Faults to inject: HTTP statuses for the next polls, polls to drop without an
        #: answer, downloads to cut after half of their bytes.
        self.poll_errors: list[int] = []
        self.drop_polls = 0
        self.cut_downloads = 0
        #: What was asked: accepted submissions, refusals, polls, download GETs, HEADs.
        self.submissions: list[tuple[str, dict[str, Any]]] = []
        self.refusals: list[dict[str, Any]] = []
        self.polls = 0
        self.downloads: list[str | None] = []
        self.heads = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The API root (what CDSAPI_URL holds)."""
        return f"{self.host}/api"

    def __enter__(self) -> FakeCDS:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---------------------------------------------------------------- the API's work

    def submit(self, collection: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if collection not in COLLECTIONS:
            return 404, {"type": "no such process", "title": "process not found"}
        problem = _check_request(COLLECTIONS[collection], request)
        if problem:
            return 400, {"type": "invalid request", "title": "invalid request", "detail": problem}
        items = 1
        for key in ("variable", "year", "month", "day", "time"):
            items *= len(request[key])
        if items > self.item_limit:
            with self.lock:
                self.refusals.append(request)
            detail = "Your request is too large, please reduce your selection."
            if self.name_limit:
                detail = (
                    f"Request too large. Requested {items} items, limit is {self.item_limit}. "
                    + detail
                )
            return 403, {
                "type": "permission denied",
                "title": "cost limits exceeded",
                "detail": detail,
            }
        failure = self.fail_when(request) if self.fail_when else None
        schedule = ["accepted"] * self.queued_polls + ["running"] * self.running_polls
        schedule.append("failed" if failure else "successful")
        job = Job(str(uuid.uuid4()), collection, request, schedule, failure)
        with self.lock:
            self.jobs[job.id] = job
            self.submissions.append((collection, request))
        return 201, self.status_json(job)

    def status_json(self, job: Job) -> dict[str, Any]:
        url = f"{self.url}/retrieve/v1/jobs/{job.id}"
        return {
            "processID": job.collection,
            "type": "process",
            "jobID": job.id,
            "status": job.status,
            "created": job.created,
            "updated": datetime.now(timezone.utc).isoformat(),
            "links": [
                {"href": url, "rel": "self"},
                {"href": url, "rel": "monitor"},
                {"href": f"{url}/results", "rel": "results"},
            ],
            "metadata": {"request": {"ids": job.request}, "log": []},
        }

    def results(self, job: Job) -> tuple[int, dict[str, Any]]:
        if job.status in ("accepted", "running"):
            return 404, {"type": "results not ready", "title": "results not ready"}
        if job.status == "failed":
            return 400, {
                "type": "job results failed",
                "title": "The job has failed",
                "status": 400,
                "traceback": job.failure,
            }
        with self.lock:
            if job.payload is None:
                job.payload, job.filename, job.content_type = self.build(job)
        return 200, {
            "asset": {
                "value": {
                    "type": job.content_type,
                    "href": f"{self.host}/download/{job.id}/{job.filename}",
                    "file:size": len(job.payload),
                    "file:local_path": f"s3://cache/{job.filename}",
                }
            }
        }

    def build(self, job: Job) -> tuple[bytes, str, str]:
        """The result file: one NetCDF per stream (a ZIP of them for ERA5 with both)."""
        request = job.request
        dataset = COLLECTIONS[job.collection]
        year, month = int(request["year"][0]), int(request["month"][0])
        stamps = [
            np.datetime64(f"{year:04d}-{month:02d}-{int(d):02d}T{t}")
            for d in request["day"]
            for t in request["time"]
        ]
        variables = [CDS_NAMES[v] for v in request["variable"]]
        history = f"fake CDS {job.collection} request {job.id}"
        cuts = {v: self.archive.cut(v, stamps, request["area"]) for v in variables}
        if dataset == "era5-land" or len({STREAM[v] for v in variables}) == 1:
            merged = xr.merge(cuts.values(), compat="override", join="exact")
            return _netcdf_bytes(merged, history), f"{job.id}.nc", "application/netcdf"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for stream in ("instant", "accum"):
                streams = [cuts[v] for v in variables if STREAM[v] == stream]
                if streams:
                    data = _netcdf_bytes(xr.merge(streams), history)
                    archive.writestr(f"data_stream-oper_stepType-{stream}.nc", data)
        return buffer.getvalue(), f"{job.id}.zip", "application/zip"


def _check_request(dataset: str, request: dict[str, Any]) -> str | None:
    """What the collection would refuse (the keys and values this project sends)."""
    required = ["variable", "year", "month", "day", "time", "data_format", "area"]
    if dataset == "era5":
        required.append("product_type")
    missing = [k for k in required if k not in request]
    if missing:
        return f"missing {', '.join(missing)}"
    if request["data_format"] != "netcdf":
        return "data_format must be netcdf here"
    if dataset == "era5" and request["product_type"] != ["reanalysis"]:
        return "product_type must be reanalysis"
    if dataset == "era5-land" and "product_type" in request:
        return "reanalysis-era5-land has no product_type"
    unknown = [v for v in request["variable"] if v not in CDS_NAMES]
    if unknown:
        return f"unknown variable(s) {unknown}"
    collection = next(c for c, d in COLLECTIONS.items() if d == dataset)
    absent = [v for v in request["variable"] if CDS_NAMES[v] not in HOLDS[collection]]
    if absent:
        return f"{collection} has no {', '.join(absent)}"
    if len(request["year"]) != 1 or len(request["month"]) != 1:
        return "this fake serves one month per request"
    north, west, south, east = request["area"]
    if not (north > south and east > west):
        return f"bad area {request['area']}"
    return None


def _handler(cds: FakeCDS) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            return None

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("PRIVATE-TOKEN") == KEY:
                return True
            self._json(401, {"type": "unauthorized", "title": "authentication failed"})
            return False

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _drop(self) -> None:
            """Close the connection without an answer."""
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def do_HEAD(self) -> None:
            self._download(head=True)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            parts = path.strip("/").split("/")
            if path == "/api/catalogue/v1/messages":
                return self._json(200, {"messages": []})
            if path.startswith("/download/"):
                return self._download(head=False)
            if (
                parts[:3] == ["api", "retrieve", "v1"]
                and len(parts) == 5
                and parts[3] == "processes"
            ):
                if parts[4] not in COLLECTIONS:
                    return self._json(404, {"title": "process not found"})
                return self._json(200, {"id": parts[4], "title": parts[4], "links": []})
            if parts[:4] == ["api", "retrieve", "v1", "jobs"] and len(parts) in (5, 6):
                if not self._authorised():
                    return None
                job = cds.jobs.get(parts[4])
                if job is None:
                    return self._json(404, {"title": "job not found"})
                if len(parts) == 6 and parts[5] == "results":
                    return self._json(*cds.results(job))
                with cds.lock:
                    cds.polls += 1
                    if cds.drop_polls:
                        cds.drop_polls -= 1
                        drop = True
                    else:
                        drop = False
                    error = cds.poll_errors.pop(0) if cds.poll_errors and not drop else None
                if drop:
                    return self._drop()
                if error is not None:
                    return self._json(error, {"title": "upstream trouble", "status": error})
                held = cds.hold is not None and cds.hold(job.request)
                body = cds.status_json(job)
                if held:
                    body["status"] = "accepted"
                else:
                    job.polls += 1
                return self._json(200, body)
            return self._json(404, {"title": f"no route {path}"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            parts = path.strip("/").split("/")
            if path == "/api/profiles/v1/account/verification/pat":
                if self._authorised():
                    self._json(200, {"id": 1, "sub": "tester", "role": "user"})
                return None
            if parts[:4] == ["api", "retrieve", "v1", "processes"] and parts[-1] == "execution":
                if not self._authorised():
                    return None
                inputs = self._body().get("inputs", {})
                return self._json(*cds.submit(parts[4], inputs))
            return self._json(404, {"title": f"no route {path}"})

        def _download(self, head: bool) -> None:
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            job = cds.jobs.get(parts[1]) if len(parts) == 3 else None
            if job is None or job.payload is None:
                return self._json(404, {"title": "no such file"})
            data = job.payload
            start = 0
            ranged = self.headers.get("Range")
            if ranged and ranged.startswith("bytes="):
                start = int(ranged[len("bytes=") :].split("-", 1)[0])
            body = data[start:]
            if head:
                cds.heads += 1
            else:
                cds.downloads.append(ranged)
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", job.content_type)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if head:
                return None
            with cds.lock:
                cut = cds.cut_downloads > 0 and len(body) > 2
                if cut:
                    cds.cut_downloads -= 1
            if cut:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                return self._drop()
            self.wfile.write(body)
            return None

    return Handler
