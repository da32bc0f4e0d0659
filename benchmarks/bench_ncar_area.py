"""A France month from the NSF NCAR copy's global files: the bytes fetched, and faults.

Builds, once, July 2020 of the copy's layout on the global 0.25 degree grid
(``tests/ncar_layout.py``: ``VAR_2T`` monthly, ``LSP`` and ``CP`` in half-month forecast
files, June's second half included, France's cells the real CDS values), puts it on a
moto server in a public bucket named ``nsf-ncar-era5`` and runs the job on
``s3://nsf-ncar-era5 --area 52,-6,40,10`` for the month, unsigned, through the counting
proxy (``era5_tools.s3proxy``), with no credentials anywhere. Side by side in one run:

- ``clean``: no faults;
- ``faults``: the proxy answers 503 to every 6th GET, 500 to every 9th, cuts every 8th
  body at 40% (an orderly close) and every 13th at 70% (a TCP reset), and answers 500 to
  every 5th HEAD: about 4 GETs in 10 meet a fault. The job retries each read up to 10
  times (``ERA5_S3_RETRY=tries=10``); a read that meets a fault 10 times in a row fails
  its day, naming the fault and the tries, and the benchmark prints it.

Printed per run: bytes fetched (planning, days, total), against the stored bytes of the
chunks holding the area's samples of the month (h5py: the floor of a chunked read) and
against the files' size (reading the globe), GETs, faults played, days by status, and
whether the daily_summary rows of both runs are identical.

Usage: python benchmarks/bench_ncar_area.py [--days 31] [--master local[2]] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = date(2020, 7, 1)
FRANCE = "52,-6,40,10"
#: The read retry policy of both runs (the default waits up to 20 s between tries).
RETRY = "tries=10,base=0.05,cap=0.5"
FAULTS = {
    "clean": [],
    "faults": [
        {"kind": "503", "on": "get", "every": 6},
        {"kind": "500", "on": "get", "every": 9},
        {"kind": "cut", "on": "get", "every": 8, "cut_after": 0.4},
        {"kind": "cut", "on": "get", "every": 13, "cut_after": 0.7, "reset": True},
        {"kind": "500", "on": "head", "every": 5},
    ],
}


def _paths() -> None:
    for folder in (ROOT / "src" / "lib", ROOT / "tests"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def ensure_copy(folder: Path) -> list[Path]:
    """The month's global files in the copy's layout, built once into ``folder``."""
    _paths()
    from ncar_layout import build

    done = folder / ".complete"
    if done.exists():
        return [folder / line for line in done.read_text().split()]
    print(f"... building the global copy into {folder} (once)", file=sys.stderr, flush=True)
    files = build(folder, grid="global", tp_as="lsp+cp")
    done.write_text("\n".join(str(p.relative_to(folder)) for p in files))
    return files


def _child(kind: str, days: int, master: str, data: Path) -> dict:
    """One measured job run in a fresh interpreter: figures as JSON on stdout."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    _paths()
    from ncar_layout import BUCKET

    from era5_contours.run.spark import local_spark_session
    from era5_tools.s3proxy import Fault, Placement, executor_conf, measure_job_reads

    files = ensure_copy(data)
    placement = Placement(
        BUCKET,
        {str(p): str(p.relative_to(data)) for p in files},
        f"s3://{BUCKET}",
        public=True,
        signed=False,
    )
    faults = [Fault(**f) for f in FAULTS[kind]]
    os.environ["ERA5_S3_RETRY"] = RETRY  # the driver's listings and HEADs
    conf = {
        **executor_conf(),
        "spark.executorEnv.ERA5_S3_RETRY": RETRY,
        "spark.executorEnv.AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    spark = local_spark_session(master, f"bench-ncar-{kind}", conf=conf)
    end = START + timedelta(days=days - 1)
    with tempfile.TemporaryDirectory(prefix="bench-ncar-") as tmp:
        t0 = time.perf_counter()
        m = measure_job_reads(
            spark, files, START, end, Path(tmp) / "out", run_id=f"bench-ncar-{kind}",
            options={"area": FRANCE, "plots": "false"}, faults=faults, placement=placement,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        rows, failed = _summary(Path(tmp) / "out")
    spark.stop()
    report = m.pop("report")
    return {**m, "wall_s": wall, "statuses": report.status_counts, "rows": rows, "failed": failed}


def _summary(out: Path) -> tuple[list, list[str]]:
    """The daily_summary rows, without the run's own columns, and the failures' errors."""
    from era5_contours.tables.catalog import load_catalog

    table = load_catalog("sql", str(out / "warehouse")).load_table("climate.daily_summary")
    keep = ("day", "variable", "status", "samples", "field_min", "field_mean", "field_max")
    rows = table.scan().to_arrow().to_pylist()
    failed = [f"{r['day']} {r['variable']}: {r['error']}" for r in rows if r["status"] == "failed"]
    return sorted((str(r["day"]), r["variable"], *[r[k] for k in keep[2:]]) for r in rows), failed


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / ".data" / "ncar")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--child", choices=list(FAULTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.days, args.master, args.data_dir), default=str))
        return 0

    _paths()
    from ncar_layout import area_chunk_bytes

    from era5_common.area import Area

    files = ensure_copy(args.data_dir)
    days = [START + timedelta(days=i) for i in range(args.days)]
    floor = area_chunk_bytes(files, Area.parse(FRANCE), days)
    size = sum(p.stat().st_size for p in files)
    results = {}
    for kind in FAULTS:
        print(f"... {kind}: {args.days} days on {args.master}", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, "--child", kind, "--days", str(args.days),
               "--master", args.master, "--data-dir", str(args.data_dir)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"France ({FRANCE}) for {args.days} days of July 2020 from the global 0.25 degree "
        f"files ({len(files)} files, {size / 1e6:,.0f} MB); the area's chunks for those "
        f"days hold {floor / 1e6:,.1f} MB (h5py)"
    )
    header = f"{'run':<8}{'planning MB':>12}{'days MB':>9}{'total MB':>10}{'/chunks':>9}"
    header += f"{'/files':>8}{'GETs':>7}{'wall s':>8}  faults played; days"
    print(header)
    print("-" * len(header))
    for kind, r in results.items():
        total = r["planning"]["bytes"] + r["days"]["bytes"]
        gets = r["planning"]["gets"] + r["days"]["gets"]
        played = ", ".join(f"{k} x{v}" for k, v in sorted(r["faults"].items())) or "none"
        print(
            f"{kind:<8}{r['planning']['bytes'] / 1e6:>12.1f}{r['days']['bytes'] / 1e6:>9.1f}"
            f"{total / 1e6:>10.1f}{total / floor:>8.3f}x{total / size:>7.3f}x{gets:>7}"
            f"{r['wall_s']:>8.0f}  {played}; {r['statuses']}"
        )
    for kind, r in results.items():
        for line in r["failed"]:
            print(f"  {kind}: failed {line}")
    same = results["clean"]["rows"] == results["faults"]["rows"]
    print(f"daily_summary rows identical with and without faults: {same}")
    print("/chunks: bytes fetched over the stored chunks the area's samples occupy [goal <= 1.25]")
    if args.json:
        args.json.write_text(json.dumps({"floor": floor, "size": size, **results}, default=str))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
