"""Benchmark the table write at scale: file counts and peak memory, a month vs a year.

A synthetic regional sample (era5_tools.sample, the current CDS layout) covering a year is
generated once. The job then runs in fresh processes, side by side in one invocation:

1. one month (31 days) on a fresh warehouse;
2. the whole year (365 or 366 days) on another fresh warehouse;
3. a rerun of 3 days of that year (one in each of 3 months) on the year's warehouse.

For each it prints the days, the wall time, the live data files of each table and the
most files any (variable, month) has, and the peak memory (``VmHWM``, the kernel's
resident high-water mark) of the driver's Python process, of the largest Python worker
(the executors' tasks: per-day work and the month rewrite) and of the JVM. The memory is
read from ``/proc`` every 0.2 s for every process of the run's tree; a process's
high-water mark only grows, so the last reading is its peak up to that moment.

Bounded memory shows as the year's peaks next to the month's: the driver holds only
outcomes and data-file metadata, and a worker holds one day's fields or one (variable,
month) partition, whatever the number of days.

Usage: python benchmarks/bench_tables.py [--year 2023] [--bounds W S E N] [--resolution 0.25]
       [--master local[2]] [--workdir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(args: argparse.Namespace) -> dict:
    """In a fresh interpreter: one job run; its report and table file counts as JSON."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sys.path.insert(0, str(ROOT / "src" / "lib"))
    import logging

    from era5_contours.run.config import JobConfig
    from era5_contours.run.pipeline import run_contour_job
    from era5_contours.run.report import report_dict
    from era5_contours.run.spark import local_spark_session
    from era5_contours.tables.catalog import _bounds, load_catalog

    logging.basicConfig(level=logging.WARNING)
    spark = local_spark_session(args.master, "bench-tables")
    config = JobConfig.from_args(
        {
            "input_path": args.input,
            "output_path": args.output,
            "start_date": args.start,
            "end_date": args.end,
            "run_id": args.run_id,
            "plots": "false" if args.no_plots else "true",
        }
    )
    t0 = time.perf_counter()
    report = run_contour_job(spark, config)
    wall = time.perf_counter() - t0
    spark.stop()
    cat = load_catalog("sql", str(Path(args.output) / "warehouse"))
    tables = {}
    for name in ("contour_features", "daily_summary"):
        table = cat.load_table(f"climate.{name}")
        per_month: dict[str, int] = {}
        for task in table.scan().plan_files():
            variable, _ = _bounds(task.file, table.schema(), "variable")
            first, _ = _bounds(task.file, table.schema(), "day")
            key = f"{variable}/{first:%Y-%m}"
            per_month[key] = per_month.get(key, 0) + 1
        tables[name] = {
            "files": sum(per_month.values()),
            "partitions": len(per_month),
            "max_files_per_variable_month": max(per_month.values(), default=0),
            "rows": table.scan().to_arrow().num_rows,
        }
    out = report_dict(report)
    out.update(wall_s=wall, tables=tables)
    return out


def _status(pid: int) -> dict[str, int]:
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "PPid"):
                    fields[key] = int(value.split()[0])
    except OSError:
        pass
    return fields


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class TreeMemory:
    """The VmHWM of every process under ``root`` pid, sampled until stopped (kB)."""

    def __init__(self, root: int, every: float = 0.2):
        self.root, self.every = root, every
        self.peaks: dict[int, int] = {}
        self.kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                ppid = _status(int(entry)).get("PPid")
                if ppid is not None:
                    parents[int(entry)] = ppid
        tree, frontier = [self.root], [self.root]
        while frontier:
            frontier = [p for p, pp in parents.items() if pp in frontier and p not in tree]
            tree += frontier
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._tree():
                hwm = _status(pid).get("VmHWM")
                if hwm is None:
                    continue
                self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)
                # Classified anew each time: a launcher script execs the JVM later.
                cmd = _cmdline(pid)
                if pid == self.root:
                    self.kinds[pid] = "driver"
                elif cmd.split(" ")[0].endswith("/java") or cmd.startswith("java "):
                    self.kinds[pid] = "jvm"
                elif "pyspark" in cmd:
                    self.kinds[pid] = "python worker"
                else:
                    self.kinds.setdefault(pid, "other")
            time.sleep(self.every)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, kind: str) -> float:
        """Largest VmHWM among processes of ``kind``, in MB."""
        values = [v for p, v in self.peaks.items() if self.kinds.get(p) == kind]
        return max(values, default=0) / 1024

    def count(self, kind: str) -> int:
        """How many processes of ``kind`` were seen."""
        return sum(1 for k in self.kinds.values() if k == kind)


def run_case(label: str, inputs: Path, output: Path, start: date, end: date, ns) -> dict:
    """Run the job in a child process for ``start..end``, watching its memory."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--input",
        str(inputs),
        "--output",
        str(output),
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--run_id",
        label.replace(" ", "-"),
        "--master",
        ns.master,
    ] + (["--no_plots"] if ns.no_plots else [])
    # The Python workers import this checkout's library, as the driver does.
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src" / "lib"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with TreeMemory(proc.pid) as memory:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(
        label=label,
        driver_mb=memory.peak("driver"),
        worker_mb=memory.peak("python worker"),
        jvm_mb=memory.peak("jvm"),
        workers_seen=memory.count("python worker"),
    )
    print(f"  {label}: {result['days']} days in {result['wall_s']:.0f} s", file=sys.stderr)
    return result


def main() -> int:
    """Generate the sample once, run the cases, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input")
    parser.add_argument("--output")
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--run_id")
    parser.add_argument("--year", type=int, default=2023)
    parser.add_argument("--bounds", nargs=4, type=float, default=(-6.0, 40.0, 10.0, 52.0))
    parser.add_argument("--resolution", type=float, default=0.25)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--no_plots", action="store_true", help="skip the PNG maps (faster)")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    ns = parser.parse_args()
    if ns.child:
        print(json.dumps(_child(ns), default=str))
        return 0

    work = ns.workdir or Path(tempfile.mkdtemp(prefix="bench-tables-"))
    inputs = work / "in"
    first, last = date(ns.year, 1, 1), date(ns.year, 12, 31)
    if not inputs.exists():
        print(f"generating {first}..{last + timedelta(days=1)} under {inputs}", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "era5_tools.sample",
                "--output_dir",
                str(inputs),
                "--start_date",
                first.isoformat(),
                # tp of Dec 31 needs Jan 1 00 UTC
                "--end_date",
                (last + timedelta(days=1)).isoformat(),
                "--bounds",
                *map(str, ns.bounds),
                "--resolution",
                str(ns.resolution),
                "--log_level",
                "WARNING",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src" / "lib")},
        )
    size = sum(p.stat().st_size for p in inputs.rglob("*.nc"))
    cases = [
        run_case("month", inputs, work / "out-month", first, first + timedelta(days=30), ns),
        run_case("year", inputs, work / "out-year", first, last, ns),
    ]
    rerun_days = [date(ns.year, 3, 10), date(ns.year, 7, 20), date(ns.year, 11, 5)]
    reruns = [run_case(f"rerun {d:%m-%d}", inputs, work / "out-year", d, d, ns) for d in rerun_days]
    rerun = reruns[-1]
    rerun["label"] = "3 one-day reruns"

    print(
        f"\ninput: {size / 1e6:.0f} MB of NetCDF, {ns.bounds} at {ns.resolution} degrees, "
        f"{ns.master}; memory = VmHWM (peak resident set) per process"
    )
    header = (
        f"{'case':<18}{'days':>6}{'wall s':>8}{'features files':>16}{'summary files':>15}"
        f"{'max/(var,month)':>17}{'feature rows':>14}{'driver MB':>11}{'worker MB':>11}{'JVM MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for c in (*cases, rerun):
        f, s = c["tables"]["contour_features"], c["tables"]["daily_summary"]
        print(
            f"{c['label']:<18}{c['days']:>6}{c['wall_s']:>8.0f}{f['files']:>16}{s['files']:>15}"
            f"{max(f['max_files_per_variable_month'], s['max_files_per_variable_month']):>17}"
            f"{f['rows']:>14}{c['driver_mb']:>11.0f}{c['worker_mb']:>11.0f}{c['jvm_mb']:>9.0f}"
        )
    month, year = cases
    print(
        f"\nyear / month: days x{year['days'] / month['days']:.1f}, feature rows "
        f"x{year['tables']['contour_features']['rows'] / month['tables']['contour_features']['rows']:.1f}, "
        f"driver peak x{year['driver_mb'] / month['driver_mb']:.2f}, "
        f"worker peak x{year['worker_mb'] / month['worker_mb']:.2f}, "
        f"JVM peak x{year['jvm_mb'] / month['jvm_mb']:.2f}"
    )
    if ns.json:
        ns.json.write_text(json.dumps([*cases, *reruns], indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
