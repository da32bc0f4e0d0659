"""One global day per variable, as a worker runs it: memory, stages, and the floor.

For each case (a global 0.1 degree ERA5-Land day, a global 0.25 degree ERA5 day, both
written by ``era5_tools.sample``) and each variable, fresh child processes of this
script measure side by side:

- ``task``: the streaming path of a worker: ``daily.read_daily`` (samples read a couple
  of hours at a time), product detection and the daily rule, ``contour_field``
  (bands and isolines) at full precision, ``feature_rows``, ``geojson.web_geojson`` (the
  file for browsers, defaults from the grid) and ``plots.render_map_png``;
- ``job``: the job's own work for the day, ``days.process_day`` (every variable, product
  detection, GeoJSON, PNG, staged rows), in one process as an executor's Python worker
  runs it: its VmHWM holds both variables' accumulators;
- ``in-memory``: the previous reading path, ``reading.load_day`` + ``detect_dataset`` +
  ``daily_field`` (the whole day in memory), for its peak memory;
- ``floor``: what no implementation avoids: reading the samples the daily rule needs
  with netCDF4 (one ``var[i]`` per hour, decoded: every hour of the window, but ERA5-Land's
  total, which is its D+1 00 UTC sample alone) plus contourpy's bare generation of the
  same bands and lines (``filled`` and ``lines`` calls, no geometry objects). The bytes
  decoded are printed beside those of the whole window.

Peak memory is each child's own VmHWM (the kernel's RSS high-water mark), read from
/proc at the end, so it counts everything: Python, numpy, netCDF/HDF5, GEOS, Agg.

Run ``.venv/bin/python benchmarks/bench_day.py --help``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2024, 7, 1)
CASES = {
    # name: (dataset, bounds, resolution)
    "era5-land-0.1": ("era5-land", (-180.0, -90.0, 179.9, 90.0), 0.1),
    "era5-0.25": ("era5", (-180.0, -90.0, 179.75, 90.0), 0.25),
}
VARIABLES = ("t2m", "tp")
#: Cases of a day's job only, with every variable of the registry against t2m and tp:
#: what the variables beyond the defaults cost a day (their files hold every quantity).
ALL_VARIABLES_CASES = {"era5-0.25-all": ("era5", (-180.0, -90.0, 179.75, 90.0), 0.25)}
#: Issue 25's goals for a whole day (process_day) over its floor, per case.
GOALS = {"era5-land-0.1": 2, "era5-0.25": 3}
MODES = ("floor", "task", "in-memory")  # per variable; "job" once per case


def vm_hwm_mib() -> float | None:
    """Peak resident memory of this process (VmHWM), MiB; None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_hwm() -> None:
    """Start VmHWM again from the current RSS (Linux: ``clear_refs``); no-op elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def ensure_sample(case: str, data_dir: Path) -> list[Path]:
    """The case's files, generated once into ``data_dir/case`` (minutes for 0.1 degree)."""
    from era5_common.variables import DEFAULTS
    from era5_common.variables import VARIABLES as REGISTRY

    dataset, bounds, resolution = {**CASES, **ALL_VARIABLES_CASES}[case]
    folder = data_dir / case
    files = sorted(folder.glob("*.nc"))
    if files:
        return files
    from era5_tools.sample import generate_sample

    print(f"... generating the {case} sample into {folder} (once)", file=sys.stderr, flush=True)
    return generate_sample(
        folder, DAY, DAY, bounds=bounds, resolution=resolution, dataset=dataset,
        variables=list(REGISTRY) if case in ALL_VARIABLES_CASES else DEFAULTS,
    )  # fmt: skip


# --------------------------------------------------------------------------- children


def _levels(variable: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    from era5_contours.science.levels import default_scheme

    scheme = default_scheme(variable)
    return scheme.levels_for(values), scheme.cmap


def child_floor(files: list[Path], variable: str) -> dict[str, Any]:
    """netCDF4 reading of the rule's samples, then contourpy alone on the daily field."""
    field = daily_field_untimed(files, variable)
    gc.collect()
    out = measure_floor(files, variable, field)
    out["vm_hwm_mib"] = vm_hwm_mib()
    return out


def daily_field_untimed(files: list[Path], variable: str):
    """The daily field to contour, made outside any timing."""
    from era5_contours.science.daily import read_daily

    acc = read_daily(files, DAY, variable)
    return acc.field(acc.detect().dataset)


def rule_needs_last_only(field) -> bool:
    """Whether the rule of ``field`` needs only the window's last sample.

    ERA5-Land's total: the accumulation since 00 UTC at D+1 00 UTC is the day's total, so
    that one sample is all the rule needs (every other rule needs every hour).
    """
    from era5_common import variables

    return (
        variables.variable(str(field.data.name)).statistic == variables.TOTAL
        and field.dataset == "era5-land"
    )


def measure_floor(files: list[Path], variable: str, field, *, read: bool = True) -> dict[str, Any]:
    """Seconds of the floor: netCDF4 reading of the samples the rule needs + contourpy.

    The samples are those of the quantities the variable is made from (``read=False``
    leaves them out: a day reads a quantity once for all its variables). Also counts,
    untimed, the window's samples and their decoded bytes: what reading the whole window
    (the reader before issue 25) decodes.
    """
    from bench_contours import run_contourpy  # this script's folder is on sys.path

    last_only = rule_needs_last_only(field)
    out: dict[str, Any] = {"samples": 0, "decoded_bytes": 0, "window_samples": 0,
                           "window_bytes": 0, "read_s": 0.0, "read_cpu_s": 0.0}  # fmt: skip
    for quantity in field_quantities(files, variable) if read else ():
        for key, value in read_floor(files, quantity, last_only).items():
            out[key] += value
    values = field.data.values
    lon, lat = field.data["longitude"].values, field.data["latitude"].values
    levels, _ = _levels(variable, values)
    # The floor bench_contours measures: contourpy's bare generation, no geometry.
    c0 = time.process_time()
    _, stages, _ = run_contourpy({"lon": lon, "lat": lat, "values": values, "levels": levels})
    contour_cpu = time.process_time() - c0
    contour_s = sum(stages.values())
    return {
        **out,
        "stages_s": {"read netCDF4": out["read_s"], "contourpy": contour_s},
        "total_s": out["read_s"] + contour_s,
        "total_cpu_s": out["read_cpu_s"] + contour_cpu,
    }


def field_quantities(files: list[Path], variable: str) -> list[str]:
    """The quantities of the variable's first recipe the files hold."""
    import netCDF4

    from era5_common.variables import FILE_NAMES, recipe_for

    held = set()
    for path in files:
        with netCDF4.Dataset(path) as nc:
            held |= {FILE_NAMES[k] for k in nc.variables if k in FILE_NAMES}
    recipe = recipe_for(variable, held)
    assert recipe is not None, (variable, held)
    return list(recipe.inputs)


def read_floor(files: list[Path], quantity: str, last_only: bool) -> dict[str, Any]:
    """netCDF4 reading of a quantity's samples in its window (``last_only``: the last)."""
    import netCDF4

    from era5_common.variables import FILE_NAMES
    from era5_contours.inputs.windows import in_window, sample_window

    window = sample_window(quantity, DAY)
    t0, c0 = time.perf_counter(), time.process_time()
    n = window_n = nbytes = window_bytes = 0
    for path in files:
        with netCDF4.Dataset(path) as nc:
            name = next((k for k in nc.variables if FILE_NAMES.get(k) == quantity), None)
            if name is None:
                continue
            times = netCDF4.num2date(
                nc["valid_time"][:], nc["valid_time"].units, only_use_cftime_datetimes=False
            )
            times = np.array(times, dtype="datetime64[ns]")
            index = np.flatnonzero(in_window(times, *window))
            one = nc[name].dtype.itemsize * int(np.prod(nc[name].shape[1:]))
            window_n, window_bytes = window_n + index.size, window_bytes + index.size * one
            if last_only:
                index = index[times[index] == np.datetime64(window[1], "ns")]
            for i in index:
                nc[name][i]
                n += 1
                nbytes += one
    return {"samples": n, "decoded_bytes": nbytes, "window_samples": window_n,
            "window_bytes": window_bytes, "read_s": time.perf_counter() - t0,
            "read_cpu_s": time.process_time() - c0}  # fmt: skip


class Stages:
    """Each stage's wall-clock and CPU seconds (this process's, all threads).

    CPU time is what other processes on a shared machine disturb least: a busy host
    stretches the wall-clock time of both the task and the floor, not always alike.
    """

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, timed as stage ``name``."""
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.wall[name] = time.perf_counter() - t0
        self.cpu[name] = time.process_time() - c0
        return out


def ring_faults(text: bytes, precision: int) -> tuple[int, int]:
    """Polygon rings in the web file, and how many of them are faulty.

    Faulty: against the right-hand rule, or with less area than half a cell of the
    file's precision grid (shapely's own orientation and area, as tests/test_geojson.py
    holds them).
    """
    import shapely

    rings, exterior = [], []
    for feature in json.loads(text)["features"]:
        if feature["geometry"]["type"] != "MultiPolygon":
            continue
        for polygon in feature["geometry"]["coordinates"]:
            for k, ring in enumerate(polygon):
                rings.append(np.asarray(ring, dtype=float))
                exterior.append(k == 0)
    if not rings:
        return 0, 0
    index = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
    linear = shapely.linearrings(np.concatenate(rings), indices=index)
    wrong = shapely.is_ccw(linear) != np.array(exterior)
    small = shapely.area(shapely.polygons(linear)) < 0.5 * 10.0 ** (-2 * precision) * (1 - 1e-6)
    return len(rings), int((wrong | small).sum())


def child_task(files: list[Path], variable: str) -> dict[str, Any]:
    """The streaming worker path, stage by stage."""
    from era5_contours.outputs.features import feature_rows
    from era5_contours.outputs.geojson import geojson_bytes, web_geojson, web_settings
    from era5_contours.outputs.plots import render_map_png
    from era5_contours.science.contours import contour_field
    from era5_contours.science.daily import read_variable

    timer = Stages()
    decoded = {}

    def read():
        got = read_variable(files, DAY, variable)
        if got.error is not None:
            raise got.error
        acc, got.acc = got.acc, None
        decoded["bytes"] = got.decoded_bytes
        detection = acc.detect()
        return acc.field(detection.dataset), detection, acc.source_files

    field, detection, sources = timer.run("read + daily", read)
    data = field.data
    values = data.values
    lon, lat = data["longitude"].values, data["latitude"].values
    levels, cmap = _levels(variable, values)
    bands, lines = timer.run("bands + lines", contour_field, lon, lat, values, levels)
    rows = timer.run(
        "feature rows", feature_rows, bands, lines, variable=variable, units=field.units,
        day=DAY, dataset=field.dataset, source_files=sources, run_id="bench",
    )  # fmt: skip
    common = dict(
        levels=levels, cmap=cmap, variable=variable, units=field.units, day=DAY,
        dataset=field.dataset,
    )  # fmt: skip
    web = timer.run("web GeoJSON", web_geojson, bands, lines, latitude=lat, longitude=lon, **common)
    png = timer.run("PNG", render_map_png, data, levels, cmap=cmap)
    stages = timer.wall
    peak = vm_hwm_mib()
    # A second map in the same process: an executor's Python worker renders many days,
    # and the first map also pays for reading and simplifying the borders once.
    t0 = time.perf_counter()
    render_map_png(data, levels, cmap=cmap)
    png_again = time.perf_counter() - t0
    # The floor again, right after the task in the same process (after its peak was
    # read): a changing load on a shared machine hits both alike.
    gc.collect()
    floor = measure_floor(files, variable, field)
    # Untimed: the full-precision GeoJSON, and the web file's band areas against it.
    full = geojson_bytes(bands, lines, **common)
    import shapely

    full_area = {b.band_index: b.geometry.area for b in bands}
    deviation = 0.0
    for feature in json.loads(web)["features"]:
        if feature["properties"]["kind"] != "band":
            continue
        geom = shapely.geometry.shape(feature["geometry"])
        ref = full_area[feature["properties"]["band_index"]]
        deviation = max(deviation, abs(geom.area - ref) / ref)
    n_rings, n_faults = ring_faults(web, web_settings(lat, lon)[0])
    return {
        "dataset": field.dataset,
        "detection": detection.reason,
        "shape": list(values.shape),
        "stages_s": stages,
        "total_s": sum(stages.values()),
        "stages_cpu_s": timer.cpu,
        "total_cpu_s": sum(timer.cpu.values()),
        "vm_hwm_mib": peak,
        "rows": rows.num_rows,
        "web_geojson_mb": len(web) / 1e6,
        "full_geojson_mb": len(full) / 1e6,
        "web_settings": list(web_settings(lat, lon)),
        "web_band_area_max_dev": deviation,
        "png_kb": len(png) / 1e3,
        "decoded_bytes": decoded["bytes"],
        "window_bytes": floor["window_bytes"],
        "floor_same_process_s": floor["total_s"],
        "floor_same_process_cpu_s": floor["total_cpu_s"],
        "png_second_s": png_again,
        "web_rings": n_rings,
        "web_ring_faults": n_faults,
    }


def child_in_memory(files: list[Path], variable: str) -> dict[str, Any]:
    """The previous path: the day's samples loaded whole, then the rule."""
    from era5_contours.inputs.datasets import detect_dataset
    from era5_contours.inputs.samples import load_day
    from era5_contours.science.daily import daily_field

    t0 = time.perf_counter()
    ds = load_day(files, DAY, [variable])
    detection = detect_dataset(ds)
    daily_field(ds, variable, DAY, detection.dataset)
    return {"stages_s": {"read + daily": time.perf_counter() - t0},
            "total_s": time.perf_counter() - t0, "vm_hwm_mib": vm_hwm_mib()}  # fmt: skip


def child_job(files: list[Path], variables: str) -> dict[str, Any]:
    """``days.process_day`` for the day, every variable in this one process, twice.

    The first run is a worker's first day: it also pays what a Python worker does once
    (lazy imports, the units registry, reading and simplifying the borders). The second
    is any later day of the same worker (Spark reuses Python workers across tasks), on
    the footing of the floor measured right after it, in the same warm process.
    """
    import tempfile

    from era5_contours.run import tasks as days
    from era5_contours.run.config import JobConfig
    from era5_contours.run.planning import inspect_file, plan_days

    wanted = tuple(variables.split(","))
    # The job's own planning (untimed): the files of each quantity, a recipe per variable.
    [task] = plan_days([DAY], wanted, [inspect_file(str(f)) for f in files])
    runs = []
    for attempt in ("first", "next"):
        with tempfile.TemporaryDirectory() as out:
            config = JobConfig.from_args(
                {"input_path": str(files[0].parent), "output_path": out, "run_id": "bench",
                 "start_date": DAY.isoformat(), "end_date": DAY.isoformat(),
                 "variables": ",".join(wanted)}
            )  # fmt: skip
            ctx = days.RunContext(config=config, staging=f"{out}/_staging", attempt=attempt)
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            outcomes = days.process_day(task, ctx)
            runs.append((time.perf_counter() - t0, time.process_time() - c0, outcomes))
        if attempt == "first":
            first_peak = vm_hwm_mib()
            reset_hwm()  # the next day's peak is its own
    (first_s, first_cpu, _), (total, total_cpu, outcomes) = runs
    peak = vm_hwm_mib()
    # The day's floor in this process, right after: each variable's rule samples read
    # with netCDF4 plus contourpy on its field (the fields made untimed).
    # A quantity is read once for all the variables made from it (t2m for t2m, t2m_max
    # and t2m_min), as the job reads it.
    floors, floors_cpu = {}, {}
    read: set[str] = set()
    for v in wanted:
        field = daily_field_untimed(files, v)
        gc.collect()
        quantities = set(field_quantities(files, v))
        floor = measure_floor(files, v, field, read=not quantities <= read)
        read |= quantities
        floors[v], floors_cpu[v] = floor["total_s"], floor["total_cpu_s"]
        del field
    return {"total_s": total, "total_cpu_s": total_cpu, "vm_hwm_mib": peak,
            "first_day_s": first_s, "first_day_cpu_s": first_cpu, "first_day_hwm_mib": first_peak,
            "status": {o.variable: o.status for o in outcomes},
            "seconds": {o.variable: o.seconds for o in outcomes},
            "floor_s": floors, "floor_cpu_s": floors_cpu}  # fmt: skip


CHILDREN = {
    "floor": child_floor,
    "task": child_task,
    "in-memory": child_in_memory,
    "job": child_job,
}


def spawn(mode: str, case: str, variable: str, data_dir: Path) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON report."""
    cmd = [sys.executable, __file__, "--child", mode, "--case", case, "--variable", variable,
           "--data-dir", str(data_dir)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} {case} {variable} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report


def render(report: dict[str, Any]) -> str:
    """The tables printed to stdout."""
    out = [
        f"One day ({DAY}) per variable on global grids; python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; load average {report['load_start']} at start, "
        f"{report['load_end']} at end. Each figure from its own fresh process.",
        "",
    ]
    for case, runs in report.get("all", {}).items():
        out += render_all(case, runs)
    for case, per_var in report["cases"].items():
        out.append(f"== {case}")
        header = (
            f"{'variable':<9}{'read+daily':>11}{'bands+lines':>12}{'rows':>7}{'web GeoJSON':>12}"
            f"{'PNG':>7}{'task s':>8}{'floor s':>8}{'task/floor':>11}"
            f"{'peak MiB':>9}{'in-memory':>10}{'ratio':>7}"
        )
        out += [header, "-" * len(header)]
        for variable, r in per_var.items():
            task, floor, old = r["task"], r["floor"], r["in-memory"]
            st = task["stages_s"]
            out.append(
                f"{variable:<9}{st['read + daily']:>11.2f}{st['bands + lines']:>12.2f}"
                f"{st['feature rows']:>7.2f}{st['web GeoJSON']:>12.2f}{st['PNG']:>7.2f}"
                f"{task['total_s']:>8.2f}{floor['total_s']:>8.2f}"
                f"{task['total_s'] / floor['total_s']:>10.2f}x"
                f"{task['vm_hwm_mib']:>9.0f}{old['vm_hwm_mib']:>10.0f}"
                f"{old['vm_hwm_mib'] / task['vm_hwm_mib']:>6.1f}x"
            )
        out.append("")
        for variable, r in per_var.items():
            task, floor = r["task"], r["floor"]
            out.append(
                f"  {variable}: floor measured again in the task's process right after it: "
                f"{task['floor_same_process_s']:.2f} s, task/floor "
                f"x{task['total_s'] / task['floor_same_process_s']:.2f} [goal <= 3]"
            )
            cpu = task["stages_cpu_s"]
            out.append(
                f"  {variable}: CPU seconds (read+daily {cpu['read + daily']:.2f}, bands+lines "
                f"{cpu['bands + lines']:.2f}, rows {cpu['feature rows']:.2f}, web GeoJSON "
                f"{cpu['web GeoJSON']:.2f}, PNG {cpu['PNG']:.2f}): task "
                f"{task['total_cpu_s']:.2f}, floor {floor['total_cpu_s']:.2f} (own process) "
                f"and {task['floor_same_process_cpu_s']:.2f} (task's), task/floor "
                f"x{task['total_cpu_s'] / floor['total_cpu_s']:.2f} and "
                f"x{task['total_cpu_s'] / task['floor_same_process_cpu_s']:.2f}"
            )
            fs = floor["stages_s"]
            p, tol = task["web_settings"]
            out.append(
                f"  {variable}: {task['dataset']} ({task['detection']}); floor = netCDF4 read "
                f"{fs['read netCDF4']:.2f} s ({floor['samples']} samples) + contourpy "
                f"{fs['contourpy']:.2f} s (peak {floor['vm_hwm_mib']:.0f} MiB); in-memory "
                f"read+daily {r['in-memory']['total_s']:.2f} s"
            )
            out.append(
                f"  {variable}: decoded {task['decoded_bytes'] / 1e6:.0f} MB for the day "
                f"({floor['samples']} of the window's {floor['window_samples']} samples); "
                f"reading the whole window decodes {task['window_bytes'] / 1e6:.0f} MB "
                f"(x{task['window_bytes'] / max(task['decoded_bytes'], 1):.1f})"
            )
            out.append(
                f"  {variable}: GeoJSON {task['web_geojson_mb']:.1f} MB at the defaults "
                f"(precision {p}, tolerance {tol:g} deg; full precision "
                f"{task['full_geojson_mb']:.1f} MB), band areas within "
                f"{100 * task['web_band_area_max_dev']:.3f}% of the full ones; PNG "
                f"{task['stages_s']['PNG']:.2f} s (first map of the process), "
                f"{task['png_second_s']:.2f} s (the next one) [goal < 1 s]; "
                f"{task['rows']} feature rows; "
                f"{task['web_rings']} rings in the file, {task['web_ring_faults']} against the "
                "right-hand rule or below half a grid cell"
            )
        job = report["jobs"].get(case)
        if job:
            per = ", ".join(f"{v} {s:.1f} s {job['status'][v]}" for v, s in job["seconds"].items())
            floor = sum(job["floor_s"].values())
            out.append(
                f"  job: days.process_day, {len(job['seconds'])} variable(s), a worker's next "
                f"day ({per}): {job['total_s']:.1f} s, its own peak {job['vm_hwm_mib']:.0f} MiB "
                "[goal <= 1.5 GB per variable]"
            )
            floor_cpu = sum(job["floor_cpu_s"].values())
            out.append(
                f"  job: the day's floor in the same process right after: {floor:.2f} s "
                f"({', '.join(f'{v} {f:.2f} s' for v, f in job['floor_s'].items())}); "
                f"day/floor x{job['total_s'] / floor:.2f} [goal <= {GOALS.get(case, 3)}]; "
                f"in CPU seconds {job['total_cpu_s']:.2f} / {floor_cpu:.2f} = "
                f"x{job['total_cpu_s'] / floor_cpu:.2f}"
            )
            out.append(
                f"  job: the worker's first day (imports, units registry, borders once): "
                f"{job['first_day_s']:.2f} s, {job['first_day_cpu_s']:.2f} CPU s, "
                f"x{job['first_day_cpu_s'] / floor_cpu:.2f} of the floor in CPU seconds, "
                f"peak {job['first_day_hwm_mib']:.0f} MiB"
            )
        out.append("")
    out.append(
        "task/floor: the worker's time over the floor measured in the same run (floor = "
        "netCDF4 reading of the samples + contourpy generation). peak MiB: VmHWM of the "
        "task's process; in-memory: VmHWM of the previous load_day path (read + daily only)."
    )
    out.append(f"wall time of the benchmark: {report['wall_s']:.0f} s")
    return "\n".join(out)


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def all_variables(case: str, data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The day's job with every variable and with t2m and tp, alternated, twice each."""
    from era5_common.variables import DEFAULTS
    from era5_common.variables import VARIABLES as REGISTRY

    runs: dict[str, list[dict[str, Any]]] = {"all": [], "defaults": []}
    for _ in range(2):
        for key, names in (("all", list(REGISTRY)), ("defaults", list(DEFAULTS))):
            print(f"... {case}: job with {','.join(names)}", file=sys.stderr, flush=True)
            runs[key].append(spawn("job", case, ",".join(names), data_dir))
    return runs


def render_all(case: str, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The lines of an every-variable case."""
    out = [f"== {case}: days.process_day with every variable against t2m and tp alone"]
    for key in ("all", "defaults"):
        for i, r in enumerate(runs[key], 1):
            per = ", ".join(f"{v} {s:.2f} s {r['status'][v]}" for v, s in r["seconds"].items())
            out.append(
                f"  {key:<8} run {i}: {r['total_s']:.2f} s wall, {r['total_cpu_s']:.2f} CPU s, "
                f"peak {r['vm_hwm_mib']:.0f} MiB ({per})"
            )
    best = {k: min(r["total_cpu_s"] for r in v) for k, v in runs.items()}
    out.append(
        f"  every variable / t2m and tp: x{best['all'] / best['defaults']:.2f} in CPU seconds "
        f"(best of two each: {best['all']:.2f} / {best['defaults']:.2f})"
    )
    return [*out, ""]


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"among {', '.join([*CASES, *ALL_VARIABLES_CASES])} (the last: the job with every "
        "variable against t2m and tp, twice each)",
    )
    parser.add_argument("--variables", default=",".join(VARIABLES))
    parser.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / ".data",
                        help="where the samples are generated once (default benchmarks/.data)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--variable", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        files = ensure_sample(args.case, args.data_dir)
        print(json.dumps(CHILDREN[args.child](files, args.variable)))
        return 0

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    variables = [v.strip() for v in args.variables.split(",") if v.strip()]
    unknown = set(cases) - set(CASES) - set(ALL_VARIABLES_CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}")
    started = time.perf_counter()
    report: dict[str, Any] = {"load_start": _load(), "cases": {}, "jobs": {}, "all": {}}
    for case in cases:
        ensure_sample(case, args.data_dir)
        if case in ALL_VARIABLES_CASES:
            report["all"][case] = all_variables(case, args.data_dir)
            continue
        report["cases"][case] = {}
        for variable in variables:
            entry = {}
            for mode in MODES:
                print(f"... {case} {variable}: {mode}", file=sys.stderr, flush=True)
                entry[mode] = spawn(mode, case, variable, args.data_dir)
            report["cases"][case][variable] = entry
        print(f"... {case}: job", file=sys.stderr, flush=True)
        report["jobs"][case] = spawn("job", case, ",".join(variables), args.data_dir)
    report["wall_s"] = time.perf_counter() - started
    report["load_end"] = _load()
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
