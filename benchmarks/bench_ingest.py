"""Benchmark the ingest job: peak memory against the size of what it downloads.

The Glue Python shell job runs on 1/16 DPU (1 GB of memory) because the ingest never
holds a file in memory: it downloads to disk, hashes and unpacks in 1 MiB chunks, reads
only the time coordinate of each NetCDF, and streams the files to their place. This
measures that claim. A fake CDS (tests/fake_cds.py, on 127.0.0.1) serves one month of
random float32 t2m and tp (incompressible, so the ZIP is as large as the data) on a small
and on a large grid; the real ``src/jobs/ingest_era5.py`` fetches it in a fresh process
each time, into a local folder. For each size the script prints the download's size, the
run's wall time (from start to the manifest, the fake CDS's making of the file
included), the download's own time and throughput (the job's log line), and the job
process's peak RSS above its baseline (the
RSS high-water mark, ``VmHWM``, after resetting it through ``/proc/self/clear_refs`` once
the job's modules are imported), then the ratio of the two peaks next to the ratio of the
two downloads.

Usage: python benchmarks/bench_ingest.py [--small 11x11] [--large 121x241] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src" / "lib"), str(ROOT / "src" / "jobs")]


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child(argv: list[str]) -> None:
    """In a fresh interpreter: import, reset the high-water mark, run the job, report."""
    # What the run imports is imported first: the baseline has it, the peak measures work.
    import boto3  # noqa: F401
    import ecmwf.datastores  # noqa: F401
    import ingest_era5
    import multiurl  # noqa: F401
    import netCDF4  # noqa: F401

    Path("/proc/self/clear_refs").write_text("5")
    baseline = _rss_mb("VmRSS")
    start = time.perf_counter()
    code = ingest_era5.main(argv)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {"exit": code, "seconds": seconds, "baseline_mb": baseline, "peak_mb": _rss_mb("VmHWM")}
        ),
        flush=True,
    )


def _archive(folder: Path, ny: int, nx: int) -> list[Path]:
    """July 2020, hourly, random t2m (K) and tp (m) on an ny x nx grid, CDS layout."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(0)
    times = pd.date_range("2020-07-01", periods=744, freq="h")
    lat = np.linspace(60.0, 60.0 - 0.25 * (ny - 1), ny)
    lon = np.linspace(-10.0, -10.0 + 0.25 * (nx - 1), nx)
    out = []
    for name, units, scale, offset in (("t2m", "K", 20.0, 280.0), ("tp", "m", 0.002, 0.0)):
        values = (rng.random((744, ny, nx), dtype=np.float32) * scale + offset).astype(np.float32)
        ds = xr.Dataset(
            {name: (("valid_time", "latitude", "longitude"), values, {"units": units})},
            coords={"valid_time": times, "latitude": lat, "longitude": lon},
        )
        path = folder / f"archive_{name}.nc"
        ds.to_netcdf(path, engine="netcdf4")
        out.append(path)
    return out


def _measure(grid: str, workdir: Path) -> dict:
    from fake_cds import KEY, Archive, FakeCDS

    ny, nx = (int(v) for v in grid.split("x"))
    folder = workdir / grid
    folder.mkdir()
    archive = Archive(_archive(folder, ny, nx))
    north, west = 60.0, -10.0
    area = f"{north},{west},{north - 0.25 * (ny - 1)},{west + 0.25 * (nx - 1)}"
    argv = [
        "--dataset", "era5", "--variables", "t2m,tp", "--start_month", "2020-07",
        "--end_month", "2020-07", "--area", area, "--output_path", str(folder / "out"),
        "--next_day", "false", "--poll_max_seconds", "0.05",
    ]  # fmt: skip
    with FakeCDS(archive) as cds:
        env = {**os.environ, "CDSAPI_URL": cds.url, "CDSAPI_KEY": KEY}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(argv)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        payload = sum(len(job.payload or b"") for job in cds.jobs.values())
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stdout}\n{proc.stderr}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["exit"] != 0:
        raise RuntimeError(f"the ingest exited {report['exit']}:\n{proc.stdout}")
    written = sum(p.stat().st_size for p in (folder / "out").rglob("*.nc"))
    # The job's own line: "downloaded 120.1 MiB in 3.2 s (37.5 MiB/s)".
    line = next(x for x in proc.stdout.splitlines() if ": downloaded " in x)
    download_s = float(re.search(r" in ([0-9.]+) s ", line).group(1))
    return {
        "grid": grid,
        "download_mb": payload / 2**20,
        "written_mb": written / 2**20,
        "seconds": report["seconds"],
        "download_seconds": download_s,
        "download_mb_per_s": payload / 2**20 / max(download_s, 0.01),
        "baseline_mb": report["baseline_mb"],
        "peak_above_baseline_mb": report["peak_mb"] - report["baseline_mb"],
    }


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", default="11x11", help="ny x nx of the small grid")
    parser.add_argument("--large", default="121x241", help="ny x nx of the large grid")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        rows = [_measure(grid, Path(tmp)) for grid in (args.small, args.large)]
    columns = ("grid", "download", "written", "run", "download", "MiB/s", "baseline", "peak-base")
    print("{:>9} {:>10} {:>10} {:>7} {:>9} {:>7} {:>9} {:>10}".format(*columns))
    for r in rows:
        print(
            f"{r['grid']:>9} {r['download_mb']:>6.1f} MiB {r['written_mb']:>6.1f} MiB "
            f"{r['seconds']:>6.1f}s {r['download_seconds']:>8.2f}s {r['download_mb_per_s']:>7.1f} "
            f"{r['baseline_mb']:>5.0f} MiB {r['peak_above_baseline_mb']:>6.1f} MiB"
        )
    small, large = rows
    print(
        f"large/small: download x{large['download_mb'] / small['download_mb']:.0f}, "
        f"peak above baseline x{large['peak_above_baseline_mb'] / max(small['peak_above_baseline_mb'], 0.1):.2f} "
        f"({large['peak_above_baseline_mb'] - small['peak_above_baseline_mb']:+.1f} MiB)"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
