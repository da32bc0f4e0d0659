"""Serve the static map viewer over a job's output folder (local use, standard library only).

Routes:

* ``/`` and the other static files: the built viewer (``viewer/dist``);
* ``/data/index.json``: the variables and days that have a contour file, computed from
  ``{output_path}/contours`` at each request (:func:`build_index`);
* ``/data/contours/...`` and ``/data/plots/...``: the job's GeoJSON and PNG files. The
  rest of the output folder (warehouse, sample data) is not served;
* ``/api/borders.geojson?bbox=W,S,E,N``: Natural Earth coastlines and borders for the
  box (the PNG maps' offline source), so the map has context without a tile server;
* ``/api/config.json``: the server's options for the page (``{"basemap": URL or null,
  "basemap_attribution": TEXT}``).

Command line::

    python -m era5_tools.viewer --output_path output/quickstart [--port 8000] [--host 127.0.0.1]
        [--basemap URL_WITH_{z}/{x}/{y} [--basemap_attribution TEXT]]

No base map by default: the page and its tests run offline.

The viewer is built first (``npm ci`` and ``npm run build`` in ``viewer/``) when
``viewer/dist`` is missing or older than its sources and npm is available.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import posixpath
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from era5_common import storage
from era5_common.logs import configure_logging
from era5_common.variables import VARIABLES
from era5_contours.outputs import layout
from era5_tools import repository_root

logger = logging.getLogger(__name__)

#: The job's content types, and what the viewer's own files need; explicit, since
#: ``mimetypes`` depends on the host's /etc/mime.types.
CONTENT_TYPES = {
    **storage.CONTENT_TYPES,
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    "": "application/octet-stream",
}

#: Sub-folders of the output folder that ``/data/`` exposes.
SERVED_OUTPUTS = layout.PUBLISHED

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.geojson$")
_BUILD_INSTRUCTIONS = "npm ci --prefix viewer && npm run build --prefix viewer"


class ViewerNotBuiltError(RuntimeError):
    """The viewer has no usable ``dist/`` and cannot be built here."""


def build_index(output_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Variables and days that have a contour file under ``{output_path}/contours``.

    Returns
    -------
    dict
        ``{"variables": [...], "days": {variable: [YYYY-MM-DD, ...]}, "labels": {variable:
        description}}``, sorted; variables without any day file are left out, and the
        labels are the registry's descriptions ("daily mean 2 m temperature").
        Temporary files, other names and impossible dates are ignored.
    """
    root = Path(output_path) / layout.CONTOURS
    days: dict[str, list[str]] = {}
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            found = []
            for file in folder.iterdir():
                match = _DAY_FILE.match(file.name)
                if not (match and file.is_file()):
                    continue
                try:
                    date.fromisoformat(match.group(1))
                except ValueError:
                    continue
                found.append(match.group(1))
            if found:
                days[folder.name] = sorted(found)
    labels = {v: VARIABLES[v].description for v in days if v in VARIABLES}
    return {"variables": sorted(days), "days": days, "labels": labels}


def _newest_mtime(paths: Sequence[Path]) -> float:
    newest = 0.0
    for path in paths:
        files = path.rglob("*") if path.is_dir() else [path]
        for f in files:
            if f.is_file():
                newest = max(newest, f.stat().st_mtime)
    return newest


def needs_install(viewer_dir: Path) -> bool:
    """Whether ``node_modules`` is missing or older than ``package-lock.json``."""
    installed = viewer_dir / "node_modules" / ".package-lock.json"
    lock = viewer_dir / "package-lock.json"
    if not (viewer_dir / "node_modules" / "leaflet" / "package.json").is_file():
        return True
    if not installed.is_file() or not lock.is_file():
        return True
    return installed.stat().st_mtime < lock.stat().st_mtime


def needs_build(viewer_dir: Path) -> bool:
    """Whether ``dist/`` is missing or older than the sources it is built from."""
    stamp = viewer_dir / "dist" / "build.json"
    if not stamp.is_file() or not (viewer_dir / "dist" / "index.html").is_file():
        return True
    sources = [viewer_dir / "src", viewer_dir / "scripts", viewer_dir / "package-lock.json"]
    return stamp.stat().st_mtime < _newest_mtime(sources)


def build_viewer(viewer_dir: Path, npm: str = "npm") -> Path:
    """``npm ci`` (when ``node_modules`` is stale) then ``npm run build``; returns ``dist``."""
    try:
        if needs_install(viewer_dir):
            logger.info("installing the viewer's npm packages in %s", viewer_dir)
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(viewer_dir)],
                check=True,
                stdout=sys.stderr,  # stdout stays for the command's own output (the URL)
            )
        logger.info("building the viewer in %s", viewer_dir)
        subprocess.run(
            [npm, "run", "build", "--prefix", str(viewer_dir)], check=True, stdout=sys.stderr
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ViewerNotBuiltError(
            f"building the viewer failed ({exc}); try `{_BUILD_INSTRUCTIONS}`"
        ) from exc
    return viewer_dir / "dist"


def default_viewer_dir() -> Path:
    """The checkout's ``viewer/`` npm project."""
    return repository_root() / "viewer"


def ensure_viewer(viewer_dir: str | os.PathLike[str] | None = None) -> Path:
    """The viewer's ``dist`` folder, built first when missing or stale and npm is here.

    ``viewer_dir`` defaults to :func:`default_viewer_dir`.

    Raises
    ------
    ViewerNotBuiltError
        No ``dist/index.html`` and no npm to build it (the message says what to run).
    """
    viewer_dir = Path(viewer_dir) if viewer_dir is not None else default_viewer_dir()
    dist = viewer_dir / "dist"
    if not needs_build(viewer_dir):
        return dist
    npm = shutil.which("npm")
    if npm and (viewer_dir / "package.json").is_file():
        return build_viewer(viewer_dir, npm)
    if (dist / "index.html").is_file():
        logger.warning("%s may be older than the viewer's sources; npm is not available", dist)
        return dist
    raise ViewerNotBuiltError(
        f"the viewer is not built ({dist} is missing) and npm is not available: "
        f"install Node.js and npm, then run `{_BUILD_INSTRUCTIONS}`"
    )


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"W,S,E,N"`` in degrees, clamped to the globe; ValueError when malformed."""
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise ValueError(f"bbox must be four finite numbers W,S,E,N, got {text!r}")
    w, s, e, n = parts
    w, e = max(w, -180.0), min(e, 180.0)
    s, n = max(s, -90.0), min(n, 90.0)
    if not (w < e and s < n):
        raise ValueError(f"bbox needs W < E and S < N inside the globe, got {text!r}")
    return w, s, e, n


@functools.lru_cache(maxsize=16)
def borders_geojson(
    bbox: tuple[float, float, float, float], tolerance: float = 0.01
) -> dict[str, Any] | None:
    """Coastlines and land borders clipped to ``bbox``, simplified by ``tolerance`` degrees.

    Returns None when no offline Natural Earth source is installed (see :mod:`plots`).
    """
    import shapely

    # plots (and matplotlib) only for this route: the rest of the server is stdlib.
    from era5_contours.outputs.borders import boundary_segments

    segments = boundary_segments(*bbox)
    if segments is None:
        return None
    lines = shapely.simplify([shapely.LineString(seg) for seg in segments], tolerance)
    coords = [
        [[round(x, 4), round(y, 4)] for x, y in shapely.get_coordinates(line).tolist()]
        for line in lines
        if not line.is_empty
    ]
    feature = {
        "type": "Feature",
        "geometry": {"type": "MultiLineString", "coordinates": coords},
        "properties": {"kind": "border", "source": "Natural Earth 1:10m admin-0"},
    }
    return {"type": "FeatureCollection", "features": [feature] if coords else []}


class ViewerServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the output and static folders."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        output_dir: Path,
        static_dir: Path,
        *,
        basemap: str | None = None,
        basemap_attribution: str = "",
        **kwargs: Any,
    ) -> None:
        self.output_dir = Path(output_dir).resolve()
        self.static_dir = Path(static_dir).resolve()
        #: What ``/api/config.json`` tells the page: a tile URL for a base layer, or None.
        self.page_config = {"basemap": basemap or None, "basemap_attribution": basemap_attribution}
        super().__init__(address, ViewerRequestHandler, **kwargs)

    @property
    def url(self) -> str:
        """The address the server listens on."""
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}/"


class ViewerRequestHandler(SimpleHTTPRequestHandler):
    """Static files from two roots plus the two computed JSON routes."""

    server: ViewerServer
    # The base class's instance variable (as typeshed declares it), set once for the class.
    extensions_map: dict[str, str] = {  # noqa: RUF012
        **SimpleHTTPRequestHandler.extensions_map,
        **CONTENT_TYPES,
    }

    def do_GET(self) -> None:
        """Serve the API, the data folders or the viewer's files."""
        self._route(send_body=True)

    def do_HEAD(self) -> None:
        """Like GET, without the body."""
        self._route(send_body=False)

    def _route(self, *, send_body: bool) -> None:
        route = _normalise(self.path)
        query = parse_qs(urlsplit(self.path).query)
        if route == "/data/index.json":
            self._send_json(build_index(self.server.output_dir), "application/json", send_body)
        elif route == "/api/borders.geojson":
            self._send_borders(query, send_body)
        elif route == "/api/config.json":
            self._send_json(self.server.page_config, "application/json", send_body)
        elif (route == "/data" or route.startswith("/data/")) and not _is_served_output(route):
            self.send_error(HTTPStatus.NOT_FOUND, "not served")
        elif send_body:
            super().do_GET()
        else:
            super().do_HEAD()

    def _send_borders(self, query: dict[str, list[str]], send_body: bool) -> None:
        try:
            bbox = parse_bbox(query.get("bbox", [""])[0])
        except ValueError as exc:
            self.send_error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        collection = borders_geojson(bbox)
        if collection is None:
            self.send_error(HTTPStatus.NOT_FOUND, "no offline Natural Earth borders installed")
            return
        self._send_json(collection, "application/geo+json", send_body)

    def _send_json(self, obj: Any, content_type: str, send_body: bool) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def translate_path(self, path: str) -> str:
        """Map a URL path to a file of the viewer's build folder."""
        route = _normalise(path)
        if route == "/data" or route.startswith("/data/"):
            self.directory = os.fspath(self.server.output_dir)
            route = route[len("/data") :] or "/"
        else:
            self.directory = os.fspath(self.server.static_dir)
        # The parent keeps a trailing slash as "a folder was asked for".
        slash = "/" if urlsplit(path).path.endswith("/") and not route.endswith("/") else ""
        return super().translate_path(route + slash)

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        """Refuse folder listings."""
        self.send_error(HTTPStatus.NOT_FOUND, "no directory listings")
        return None

    def end_headers(self) -> None:
        """Add the caching and security headers every answer carries."""
        # Reruns of the job rewrite files in place: always revalidate.
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Log requests through logging, not stderr."""
        logger.info("%s %s", self.address_string(), format % args)


def _normalise(path: str) -> str:
    """The URL path, unquoted, with ``.`` and ``..`` resolved (never above ``/``)."""
    route = posixpath.normpath(unquote(urlsplit(path).path))
    route = "/" + route.lstrip("/")
    return "/" if route == "/." else route


def _is_served_output(route: str) -> bool:
    parts = route.split("/")  # ["", "data", "contours", ...]
    return len(parts) > 3 and parts[2] in SERVED_OUTPUTS


def make_server(
    output_path: str | os.PathLike[str],
    static_dir: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    basemap: str | None = None,
    basemap_attribution: str = "",
) -> ViewerServer:
    """A bound (not yet serving) server; ``port=0`` picks a free port.

    ``basemap`` is a tile URL (``{z}/{x}/{y}``) the page shows under the contours.
    """
    return ViewerServer(
        (host, port),
        Path(output_path),
        Path(static_dir),
        basemap=basemap,
        basemap_attribution=basemap_attribution,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m era5_tools.viewer --output_path DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m era5_tools.viewer",
        description="Serve the map viewer over a job's output folder (contours/ and plots/).",
    )
    parser.add_argument("--output_path", required=True, type=Path, help="the job's output folder")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--basemap",
        help="tile URL with {z}/{x}/{y} for a base layer under the contours (off by default: "
        "the page needs no network), e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    )
    parser.add_argument(
        "--basemap_attribution", default="", help="the base layer's attribution text"
    )
    parser.add_argument(
        "--viewer_dir",
        type=Path,
        help="the viewer's npm project (default: viewer/ of the checkout)",
    )
    parser.add_argument("--log_level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    configure_logging(args.log_level, stream=sys.stderr)
    if str(args.output_path).startswith("s3://"):
        parser.error("the viewer serves a local folder; sync the S3 output locally first")
    if not args.output_path.is_dir():
        parser.error(f"no such folder: {args.output_path}")
    if not (args.output_path / layout.CONTOURS).is_dir():
        logger.warning(
            "%s has no contours/ folder: the viewer will find no files", args.output_path
        )
    try:
        dist = ensure_viewer(args.viewer_dir)
    except ViewerNotBuiltError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        server = make_server(
            args.output_path,
            dist,
            args.host,
            args.port,
            basemap=args.basemap,
            basemap_attribution=args.basemap_attribution,
        )
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    with server:
        print(f"Serving the viewer at {server.url} (data: {args.output_path})", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
