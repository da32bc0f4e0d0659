"""Benchmark the Spark job: days per minute with local[1] and local[2], side by side.

Each configuration runs in its own fresh process (its own JVM and Python workers) over
the same input, the real ERA5 France July 2020 files (31 days, t2m and tp in separate
files), and prints:

- wall time of the run (catalog, planning, per-day work, commit) and days per minute;
- the Spark session start-up, reported apart (paid once per Glue job);
- per-day work: the executors' own task time (read, daily fields, contours, GeoJSON,
  PNG, Parquet), and the share of the run's core-seconds spent outside it (driver
  planning, Python worker start-up, scheduling, commit);
- the speed-up of local[2] over local[1] against two ceilings measured in the same run:
  the same days' ``process_day`` in one then two bare processes without Spark (the
  job's own work, memory traffic included: the goal's ceiling), and a spin loop in one
  then two processes (pure CPU; shared vCPUs rarely give 2x).

Usage: python benchmarks/bench_job.py [--days 31] [--masters local[1],local[2]] [--json out.json]
       python benchmarks/bench_job.py --sample --days 90     (a regional synthetic ERA5 sample)

``--sample`` runs over a synthetic ERA5 sample of Western Europe (``era5_tools.sample``
defaults: 0.25 degree, 101 x 121 cells) from 2023-01-01, generated once under
``benchmarks/.data``, so that runs of 90 or 365 days are possible.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "era5"
FILES = ("era5_france_2020-07_hourly_instant_t2m.nc", "era5_france_2020-07_hourly_accum_tp.nc")


SAMPLE_START = "2023-01-01"


def sample_dir(days: int) -> Path:
    """A synthetic ERA5 sample of a year (or ``days``) from SAMPLE_START, generated once."""
    from datetime import date, timedelta

    days = max(days, 365)
    folder = ROOT / "benchmarks" / ".data" / f"job-sample-{days}d"
    if not any(folder.glob("*.nc")):
        sys.path.insert(0, str(ROOT / "src" / "lib"))
        from era5_tools.sample import generate_sample

        start = date.fromisoformat(SAMPLE_START)
        print(f"generating a {days}-day sample into {folder} ...", file=sys.stderr, flush=True)
        generate_sample(folder, start, start + timedelta(days=days - 1))
    return folder


def _config(workdir: Path, days: int, start_day: str, run_id: str):
    """The job's configuration for ``days`` days from ``start_day`` over ``workdir/in``."""
    from datetime import date, timedelta

    from era5_contours.run.config import JobConfig

    end = date.fromisoformat(start_day) + timedelta(days=days - 1)
    return JobConfig.from_args(
        {
            "input_path": str(workdir / "in"),
            "output_path": str(workdir / "out"),
            "start_date": start_day,
            "end_date": end.isoformat(),
            "min_samples_per_day": "23",
            "run_id": run_id,
        }
    )


def _child(master: str, days: int, workdir: Path, start_day: str = "2020-07-01") -> dict:
    """Run in a fresh interpreter: one job run, report as JSON on stdout."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sys.path.insert(0, str(ROOT / "src" / "lib"))
    from era5_contours.run.pipeline import run_contour_job
    from era5_contours.run.report import report_dict
    from era5_contours.run.spark import local_spark_session

    t0 = time.perf_counter()
    spark = local_spark_session(master, "bench")
    startup = time.perf_counter() - t0
    config = _config(workdir, days, start_day, f"bench-{master}")
    t0 = time.perf_counter()
    report = run_contour_job(spark, config)
    wall = time.perf_counter() - t0
    spark.stop()
    out = report_dict(report)
    out.update(master=master, startup_s=startup, wall_s=wall)
    return out


def _bare_setup(workdir: Path, days: int, start_day: str) -> tuple[list, object]:
    """The job's own day tasks and run context, planned without Spark."""
    from era5_contours.run.planning import inspect_file, plan_days
    from era5_contours.run.tasks import RunContext

    config = _config(workdir, days, start_day, "bench-bare")
    infos = [inspect_file(str(f)) for f in sorted((workdir / "in").glob("*.nc"))]
    tasks = plan_days(config.days(), config.variables, infos)
    staging = workdir / "staging"
    staging.mkdir(exist_ok=True)
    return tasks, RunContext(config=config, staging=str(staging), attempt="bench-bare")


_BARE: dict = {}


def _bare_init(run_context: object) -> None:
    import era5_contours.run.tasks  # noqa: F401 - imported before the clock starts, as in a worker

    _BARE["ctx"] = run_context


def _bare_day(task: object) -> float:
    from era5_contours.run.tasks import process_day

    t = time.perf_counter()
    outcomes = process_day(task, _BARE["ctx"])  # type: ignore[arg-type]
    if any(o.status != "ok" for o in outcomes):
        raise RuntimeError(f"{task}: {[(o.variable, o.status, o.error) for o in outcomes]}")
    return time.perf_counter() - t


def work_ceiling(inputs: list[Path], days: int, start_day: str) -> dict:
    """Speed-up two bare processes get on this machine for the job's own per-day work.

    The same ``days.process_day`` calls the executors make, for the same days, without
    Spark: in one process, then in two taking days from one queue. The days share
    memory bandwidth and caches, which a spin loop does not use; this is the ceiling the
    job's local[2] / local[1] can reach on this machine.
    """
    import multiprocessing as mp

    sys.path.insert(0, str(ROOT / "src" / "lib"))
    ctx = mp.get_context("spawn")
    out: dict = {}
    for procs in (1, 2):
        workdir = Path(tempfile.mkdtemp(prefix="bench-bare-"))
        (workdir / "in").mkdir()
        for f in inputs:
            (workdir / "in" / f.name).symlink_to(f)
        try:
            tasks, run_context = _bare_setup(workdir, days, start_day)
            with ctx.Pool(procs, _bare_init, (run_context,)) as pool:
                # Warm each worker (imports, first map's borders) outside the clock, as
                # Spark's Python workers are warm after their first day.
                pool.map(_bare_day, tasks[:procs], chunksize=1)
                t0 = time.perf_counter()
                task_s = sum(pool.imap_unordered(_bare_day, tasks, chunksize=1))
                wall = time.perf_counter() - t0
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out[procs] = {"wall_s": wall, "task_s": task_s}
    out["ceiling"] = out[1]["wall_s"] / out[2]["wall_s"]
    return out


def _spin(seconds: float) -> int:
    """Iterations of a pure-CPU loop done in ``seconds`` of wall time."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        for i in range(10_000):
            n += i & 1
    return n


def cpu_ceiling(seconds: float = 1.0, repeat: int = 3) -> float:
    """Speed-up two processes get on this machine for pure CPU work (the ideal is 2).

    Work done in a fixed time, one process alone then two at once, best of ``repeat``
    each: shared or throttled vCPUs give less than 2. A spin loop touches no memory, so
    this is an upper bound for the job, which also shares memory bandwidth and caches.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_spin, [0.05, 0.05])  # both workers started
        one = max(pool.apply(_spin, (seconds,)) for _ in range(repeat))
        two = max(sum(pool.map(_spin, [seconds, seconds], chunksize=1)) for _ in range(repeat))
    return two / one


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--masters", default="local[1],local[2]")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--sample", action="store_true",
                        help="a synthetic regional ERA5 sample instead of the real July 2020")  # fmt: skip
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the ceiling of the job's own work in bare processes")  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--start-day", default="2020-07-01", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        report = _child(args.child, args.days, Path(args.workdir), args.start_day)
        print(json.dumps(report, default=str))
        return 0

    if args.sample:
        folder = sample_dir(args.days)
        inputs, start_day = sorted(folder.glob("*.nc")), SAMPLE_START
        what = f"a synthetic ERA5 sample of Western Europe from {SAMPLE_START}"
    else:
        missing = [f for f in FILES if not (DATA / f).exists()]
        if missing:
            print(f"real data not found in {DATA}: {', '.join(missing)}", file=sys.stderr)
            return 2
        inputs, start_day = [DATA / f for f in FILES], "2020-07-01"
        what = "ERA5 France July 2020"
    results = []
    summary: dict = {}
    bare: dict = {}
    if len(args.masters.split(",")) == 2 and not args.no_bare:
        print("running the days in bare processes (1, then 2) ...", file=sys.stderr, flush=True)
        bare = work_ceiling(inputs, args.days, start_day)
    for master in args.masters.split(","):
        workdir = Path(tempfile.mkdtemp(prefix="bench-job-"))
        (workdir / "in").mkdir()
        for f in inputs:
            (workdir / "in" / f.name).symlink_to(f)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            master,
            "--days",
            str(args.days),
            "--workdir",
            str(workdir),
            "--start-day",
            start_day,
        ]
        print(f"running {master} over {args.days} days ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    print(f"\nSpark job over {args.days} days of {what} (t2m + tp), one run each:\n")
    header = f"{'master':<10}{'start-up s':>11}{'run s':>8}{'days/min':>10}{'task s':>9}{'outside %':>11}{'max days at once':>18}"
    print(header)
    print("-" * len(header))
    for r in results:
        cores = int(r["master"].removeprefix("local[").removesuffix("]") or 1)
        days_per_min = 60 * r["days"] / r["wall_s"]
        outside = 1 - r["task_seconds"] / (cores * r["wall_s"])
        r.update(days_per_min=days_per_min, outside_share=outside, cores=cores)
        print(
            f"{r['master']:<10}{r['startup_s']:>11.1f}{r['wall_s']:>8.1f}{days_per_min:>10.1f}"
            f"{r['task_seconds']:>9.1f}{100 * outside:>10.0f}%{r['max_concurrent_tasks']:>18d}"
        )
    if len(results) == 2:
        speedup = results[0]["wall_s"] / results[1]["wall_s"]
        spin = cpu_ceiling()
        print(
            f"\nspeed-up {results[1]['master']} / {results[0]['master']}: {speedup:.2f}x\n"
            f"  this machine's ceiling for two processes of pure CPU work (spin loop): "
            f"{spin:.2f}x; speed-up / spin ceiling {speedup / spin:.2f}"
        )
        if bare:
            one, two = bare[1], bare[2]
            print(
                f"  the same days' process_day in bare processes, no Spark: one {one['wall_s']:.1f} s "
                f"(days {one['task_s']:.1f} s), two {two['wall_s']:.1f} s (days {two['task_s']:.1f} s, "
                f"{100 * (two['task_s'] / one['task_s'] - 1):+.0f}% each against one alone); "
                f"ceiling {bare['ceiling']:.2f}x\n"
                f"  speed-up / ceiling of the job's own work: {speedup / bare['ceiling']:.2f} "
                "[goal >= 0.9]"
            )
            summary.update(bare=bare, spin_ceiling=spin, speedup=speedup)
    for r in results:
        print(
            f"{r['master']} phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items())
        )
    print(
        "\n'outside %': share of the run's core-seconds (cores x run s) not spent in per-day "
        "task work (driver planning, Python worker start-up, scheduling, commit)."
    )
    if args.json:
        summary["runs"] = results
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
