"""Benchmark the bytes the job fetches from S3: per phase, against the input size.

Each master runs in its own fresh process (its own JVM and Python workers): a moto server
holds the real ERA5 France July 2020 files (t2m and tp, 5.3 MB), the job reads them
through a counting proxy (``era5_tools.s3proxy``) for 31 days and writes to a local
folder. Printed per master: the bytes and GET requests of the planning phase (the
executors reading each file's coordinates) and of the days, each as a ratio of the input
files' size, and the total. The issue's bounds: planning <= 0.02, total <= 1.25 on
``local[4]``.

Usage: python benchmarks/bench_s3_reads.py [--days 31] [--masters local[1],local[4]] [--json out.json]
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
DATA = ROOT / "tests" / "data" / "era5"
FILES = ("era5_france_2020-07_hourly_instant_t2m.nc", "era5_france_2020-07_hourly_accum_tp.nc")
START = date(2020, 7, 1)


def _child(master: str, days: int) -> dict:
    """Run in a fresh interpreter: one measured job run, figures as JSON on stdout."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sys.path.insert(0, str(ROOT / "src" / "lib"))
    from era5_contours.run.spark import local_spark_session
    from era5_tools.s3proxy import executor_conf, measure_job_reads

    spark = local_spark_session(master, "bench-s3-reads", conf=executor_conf())
    with tempfile.TemporaryDirectory(prefix="bench-s3-reads-") as tmp:
        t0 = time.perf_counter()
        m = measure_job_reads(
            spark,
            [DATA / f for f in FILES],
            START,
            START + timedelta(days=days - 1),
            Path(tmp) / "out",
            run_id=f"bench-s3-{master}",
        )
        wall = time.perf_counter() - t0
    spark.stop()
    report = m.pop("report")
    return {**m, "master": master, "wall_s": wall, "statuses": report.status_counts}


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--masters", default="local[1],local[4]")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_child(args.child, args.days)))
        return 0

    missing = [f for f in FILES if not (DATA / f).exists()]
    if missing:
        print(f"missing input files in {DATA}: {', '.join(missing)}", file=sys.stderr)
        return 1
    results = []
    for master in args.masters.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", master, "--days", str(args.days)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    size = results[0]["input_bytes"]
    print(f"input: {len(FILES)} files, {size} bytes ({size / 1e6:.2f} MB), {args.days} days")
    header = f"{'master':<10} {'phase':<9} {'bytes':>10} {'GETs':>5} {'x input':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        total = {k: r["planning"][k] + r["days"][k] for k in ("bytes", "gets")}
        for phase, c in (("planning", r["planning"]), ("days", r["days"]), ("total", total)):
            print(
                f"{r['master']:<10} {phase:<9} {c['bytes']:>10} {c['gets']:>5} "
                f"{c['bytes'] / size:>8.3f}"
            )
        print(f"{r['master']:<10} statuses {r['statuses']}, wall {r['wall_s']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
