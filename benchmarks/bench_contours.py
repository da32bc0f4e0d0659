"""Contour a field with the library and with the seed's pyplot + geojsoncontour path.

Both engines turn the same field and levels into GeoJSON (filled bands and isolines,
coordinates rounded to 4 decimals). Each engine runs on each field in a fresh
subprocess of this script, so import costs, caches and heap fragmentation of one run do
not leak into the other and peak memory is that engine's own.

Run ``.venv/bin/python benchmarks/bench_contours.py --help``; see benchmarks/README.md
for what is measured and how to read the table.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

# Before anything imports matplotlib: the seed path uses pyplot, which must not need a display.
os.environ["MPLBACKEND"] = "Agg"

import numpy as np

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "era5"
T2M_FILE = "era5_france_2020-07_hourly_instant_t2m.nc"
TP_FILE = "era5_france_2020-07_hourly_accum_tp.nc"
NDIGITS = 4  # the seed's geojsoncontour ndigits, and the library's default precision
GLOBAL_LEVELS = np.arange(-36.0, 31.0, 6.0)  # 12 levels, degC
SEED = 20200701
ENGINES = ("seed", "library", "contourpy")


# --------------------------------------------------------------------------- fields


def _red_noise(rng: np.random.Generator, shape: tuple[int, int], slope: float) -> np.ndarray:
    """Standardised noise with power spectrum ~ k**-slope: smooth, with detail at all scales."""
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    k = np.hypot(np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :])
    k[0, 0] = np.inf
    field = np.fft.irfft2(spectrum * k ** (-slope / 2), s=shape)
    return (field - field.mean()) / field.std()


def synthetic_global_t2m(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A t2m-like global field on the ERA5 0.25 degree grid (721 x 1440), degC.

    Latitude gradient (colder south pole), continents from thresholded red noise (about a
    third of the surface) that are warmer in the tropics and colder in northern winter,
    a lapse-rate cooling over rough terrain, synoptic-scale anomalies and a little
    grid-scale noise. Periodic in longitude, so the antimeridian is seamless.
    """
    rng = np.random.default_rng(seed)
    lat = np.linspace(-90.0, 90.0, 721)
    lon = -180.0 + 0.25 * np.arange(1440)
    shape = (lat.size, lon.size)
    s = np.sin(np.radians(lat))[:, None]
    c = np.cos(np.radians(lat))[:, None]
    land = _red_noise(rng, shape, 3.5) > 0.45
    elevation_m = np.where(land, np.clip(_red_noise(rng, shape, 3.0), 0.0, None) * 1500.0, 0.0)
    t = 27.0 - 52.0 * s**2 - 4.0 * s
    t = t + np.where(land, 6.0 * c**2 - 12.0 * s**2 * (s > 0), 0.0)
    t = t - 6.5 * elevation_m / 1000.0
    t = t + 2.0 * _red_noise(rng, shape, 3.0) + 0.05 * rng.standard_normal(shape)
    return lon, lat, t


def build_fields(
    names: list[str], data_dir: Path, day: date, out_dir: Path
) -> tuple[list[Path], list[str]]:
    """Write each requested field to ``out_dir`` as .npz; return paths and skip notes."""
    paths: list[Path] = []
    notes: list[str] = []
    if "global" in names:
        lon, lat, values = synthetic_global_t2m()
        meta = {
            "name": "global 721x1440",
            "variable": "t2m",
            "units": "degC",
            "cmap": "RdYlBu_r",
            "day": day.isoformat(),
            "dataset": "synthetic",
            "source": f"synthetic t2m-like, seed {SEED}",
        }
        paths.append(_save(out_dir / "global.npz", lon, lat, values, GLOBAL_LEVELS, meta))
    real = [n for n in names if n in ("t2m", "tp")]
    if real:
        files = [data_dir / T2M_FILE, data_dir / TP_FILE]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            notes.append(f"real fields skipped: {', '.join(missing)} not found")
            return paths, notes
        from era5_contours.inputs.datasets import ERA5
        from era5_contours.inputs.samples import load_day
        from era5_contours.science.daily import daily_field
        from era5_contours.science.levels import default_scheme

        ds = load_day(files, day, real)
        for variable in real:
            field = daily_field(ds, variable, day, ERA5)
            values = field.data.values
            scheme = default_scheme(variable)
            levels = scheme.levels_for(values)
            ny, nx = values.shape
            meta = {
                "name": f"france {variable} {ny}x{nx}",
                "variable": variable,
                "units": field.units,
                "cmap": scheme.cmap,
                "day": day.isoformat(),
                "dataset": ERA5,
                "source": f"{files[0 if variable == 't2m' else 1].name}, daily {day}",
            }
            lon = field.data["longitude"].values
            lat = field.data["latitude"].values
            paths.append(_save(out_dir / f"{variable}.npz", lon, lat, values, levels, meta))
    return paths, notes


def _save(path, lon, lat, values, levels, meta) -> Path:
    np.savez(
        path,
        lon=np.asarray(lon, float),
        lat=np.asarray(lat, float),
        values=np.asarray(values, float),
        levels=np.asarray(levels, float),
        meta=np.array(json.dumps(meta)),
    )
    return path


def load_field(path: Path) -> dict[str, Any]:
    """Load one benchmark field (grid, values, levels) from a NetCDF file."""
    with np.load(path) as npz:
        field = {k: npz[k] for k in ("lon", "lat", "values", "levels")}
        field["meta"] = json.loads(str(npz["meta"]))
    return field


def tiny_field() -> dict[str, Any]:
    """A small smooth field: warms up lazy imports and caches before the baseline."""
    lon = np.linspace(0.0, 5.0, 21)
    lat = np.linspace(40.0, 44.0, 17)
    values = np.sin(lon[None, :]) * 10 + np.cos(lat[:, None]) * 10
    meta = {"variable": "t2m", "units": "degC", "cmap": "viridis", "day": "2020-07-01"}
    meta["dataset"] = "synthetic"
    return {"lon": lon, "lat": lat, "values": values, "levels": np.arange(-15.0, 16.0, 5.0),
            "meta": meta}  # fmt: skip


# --------------------------------------------------------------------------- memory


def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) to the current RSS (Linux only)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_mib() -> float:
    """Resident memory of this process, in MiB (its peak where /proc is absent)."""
    kib = _proc_status_kib("VmRSS")
    if kib is None:
        return peak_rss_mib()
    return kib / 1024


def peak_rss_mib() -> float:
    """VmHWM, or ru_maxrss where /proc is missing.

    ru_maxrss of an exec'd child starts at the parent's high-water mark (the kernel copies
    it at exec), so it overstates a small child's peak; VmHWM belongs to the new process.
    """
    kib = _proc_status_kib("VmHWM")
    if kib is not None:
        return kib / 1024
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / 1024 if sys.platform == "darwin" else maxrss / 1024


# --------------------------------------------------------------------------- engines


def run_library(field: dict[str, Any]) -> tuple[list[str], dict[str, float], Any]:
    """The library's whole contour step: bands, isolines, GeoJSON text, feature rows."""
    from era5_contours.outputs import geojson
    from era5_contours.science.contours import contour_field

    lon, lat, values, levels, meta = (field[k] for k in ("lon", "lat", "values", "levels", "meta"))
    t0 = time.perf_counter()
    bands, lines = contour_field(lon, lat, values, levels, precision=NDIGITS)
    t1 = t2 = time.perf_counter()
    text = geojson.geojson_bytes(
        bands,
        lines,
        levels=levels,
        cmap=meta["cmap"],
        variable=meta["variable"],
        units=meta["units"],
        day=date.fromisoformat(meta["day"]),
        dataset=meta["dataset"],
        precision=NDIGITS,
    ).decode()
    t3 = time.perf_counter()
    run_feature_rows(field, bands, lines)
    t4 = time.perf_counter()
    stages = {"bands + lines": t1 - t0, "geojson": t3 - t2, "rows": t4 - t3}
    return [text], stages, (bands, lines)


def run_contourpy(field: dict[str, Any]) -> tuple[list[str], dict[str, float], Any]:
    """The floor: contourpy's bare generation of the same bands and lines (no geometry)."""
    import contourpy

    from era5_contours.science.contours import close_longitude

    lon, lat, values, levels = (field[k] for k in ("lon", "lat", "values", "levels"))
    t0 = time.perf_counter()
    lonc, z = close_longitude(lon, values)
    gen = contourpy.contour_generator(
        lonc,
        lat,
        np.ma.masked_invalid(z),
        name="serial",
        corner_mask=True,
        fill_type=contourpy.FillType.ChunkCombinedOffsetOffset,
        line_type=contourpy.LineType.ChunkCombinedOffset,
    )
    edges = [-np.inf, *np.asarray(levels).tolist(), np.inf]
    for lower, upper in itertools.pairwise(edges):
        gen.filled(lower, upper)
    t1 = time.perf_counter()
    for level in np.asarray(levels).tolist():
        gen.lines(level)
    t2 = time.perf_counter()
    return [], {"filled": t1 - t0, "lines": t2 - t1}, None


def band_area_deviation(field: dict[str, Any], bands) -> float:
    """Largest relative difference of a band's planar area from raw contourpy's polygons."""
    import contourpy
    import shapely
    from shapely import GeometryType

    from era5_contours.science.contours import close_longitude

    lonc, z = close_longitude(field["lon"], field["values"])
    gen = contourpy.contour_generator(
        lonc, field["lat"], np.ma.masked_invalid(z), name="serial", corner_mask=True,
        fill_type=contourpy.FillType.ChunkCombinedOffsetOffset,
    )  # fmt: skip
    edges = [-np.inf, *field["levels"].tolist(), np.inf]
    ours = {b.band_index: b.geometry.area for b in bands}
    worst = 0.0
    for i, (lower, upper) in enumerate(itertools.pairwise(edges)):
        points, offsets, outers = gen.filled(lower, upper)
        area = sum(
            shapely.area(
                shapely.from_ragged_array(
                    GeometryType.POLYGON, p, (o.astype(np.int64), oo.astype(np.int64))
                )
            ).sum()
            for p, o, oo in zip(points, offsets, outers, strict=True)
            if p is not None and len(p)
        )
        if area > 0:
            worst = max(worst, abs(ours.get(i, 0.0) - area) / area)
    return worst


def run_feature_rows(field: dict[str, Any], bands, lines) -> float:
    """Seconds to build the table rows of the library's bands and lines."""
    from era5_contours.outputs.features import feature_rows

    meta = field["meta"]
    t0 = time.perf_counter()
    feature_rows(
        bands,
        lines,
        variable=meta["variable"],
        units=meta["units"],
        day=date.fromisoformat(meta["day"]),
        dataset=meta["dataset"],
        source_files=["bench"],
        run_id="bench",
        precision=NDIGITS,
    )
    return time.perf_counter() - t0


def run_seed(field: dict[str, Any]) -> tuple[list[str], dict[str, float], Any]:
    """The seed's path: matplotlib contourf and geojsoncontour; timings per step."""
    import geojsoncontour
    import matplotlib.pyplot as plt

    lon, lat, values, levels, meta = (field[k] for k in ("lon", "lat", "values", "levels", "meta"))
    t0 = time.perf_counter()
    fig, ax = plt.subplots()
    t1 = time.perf_counter()
    cmap = meta["cmap"].removesuffix("_stepped")  # a matplotlib name (the library's variant)
    filled = ax.contourf(lon, lat, values, levels=levels, extend="both", cmap=cmap)
    t2 = time.perf_counter()
    bands_text = geojsoncontour.contourf_to_geojson(filled, ndigits=NDIGITS, unit=meta["units"])
    t3 = time.perf_counter()
    lines = ax.contour(lon, lat, values, levels=levels, cmap=cmap)
    t4 = time.perf_counter()
    lines_text = geojsoncontour.contour_to_geojson(lines, ndigits=NDIGITS, unit=meta["units"])
    t5 = time.perf_counter()
    plt.close(fig)
    t6 = time.perf_counter()
    stages = {
        "figure": (t1 - t0) + (t6 - t5),
        "contourf": t2 - t1,
        "bands_geojson": t3 - t2,
        "contour": t4 - t3,
        "lines_geojson": t5 - t4,
    }
    return [bands_text, lines_text], stages, None


RUNNERS = {"library": run_library, "seed": run_seed, "contourpy": run_contourpy}


def output_stats(texts: list[str]) -> dict[str, Any]:
    """Sizes, counts and OGC validity of the GeoJSON an engine produced."""
    import shapely
    from shapely.geometry import shape

    n_bands = n_lines = n_line_parts = n_vertices = 0
    polygons: list[Any] = []
    band_geoms: list[Any] = []
    for text in texts:
        for feature in json.loads(text)["features"]:
            geom = shape(feature["geometry"])
            n_vertices += int(shapely.get_num_coordinates(geom))
            if geom.geom_type in ("Polygon", "MultiPolygon"):
                n_bands += 1
                band_geoms.append(geom)
                polygons.extend(shapely.get_parts(geom).tolist())
            else:
                n_lines += 1
                n_line_parts += len(shapely.get_parts(geom))
    polys = np.array(polygons, dtype=object)
    valid_parts = shapely.is_valid(polys) if polys.size else np.zeros(0, bool)
    valid_bands = shapely.is_valid(np.array(band_geoms, dtype=object)) if band_geoms else []
    reasons = Counter(
        r.split("[")[0].strip() for r in shapely.is_valid_reason(polys[~valid_parts]).tolist()
    )
    return {
        "bytes": sum(len(t.encode()) for t in texts),
        "features": n_bands + n_lines,
        "band_features": n_bands,
        "line_features": n_lines,
        "polygons": int(polys.size),
        "line_parts": n_line_parts,
        "vertices": n_vertices,
        "valid_polygons": int(np.count_nonzero(valid_parts)),
        "valid_band_features": int(np.count_nonzero(valid_bands)),
        "invalid_reasons": dict(reasons.most_common()),
    }


def child(engine: str, field_path: Path, repeat: int, trace: bool) -> dict[str, Any]:
    """Measure one engine on one field; runs in its own process."""
    import shapely  # noqa: F401  (imported by both engines; part of the baseline)

    if engine == "library":
        import era5_contours.outputs.features
        import era5_contours.outputs.geojson  # noqa: F401
    elif engine == "contourpy":
        import contourpy  # noqa: F401
    else:
        import geojsoncontour  # noqa: F401
        import matplotlib.pyplot  # noqa: F401

    runner = RUNNERS[engine]
    warm = tiny_field()
    runner(warm)
    field = load_field(field_path)
    gc.collect()
    baseline = rss_mib()
    exact_peak = reset_peak_rss()
    if not exact_peak:
        baseline = peak_rss_mib()

    totals: list[float] = []
    floors: list[float] = []
    stages: dict[str, list[float]] = {}
    texts: Any = None
    extra: Any = None
    for _ in range(repeat):
        texts = extra = None
        gc.collect()
        if engine == "library":
            # contourpy's bare generation right before each library run, in the same
            # process: a changing load on a shared machine hits both alike.
            t0 = time.perf_counter()
            run_contourpy(field)
            floors.append(time.perf_counter() - t0)
            gc.collect()
        t0 = time.perf_counter()
        texts, parts, extra = runner(field)
        totals.append(time.perf_counter() - t0)
        for k, v in parts.items():
            stages.setdefault(k, []).append(v)
    peak = peak_rss_mib()

    area_dev = band_area_deviation(field, extra[0]) if engine == "library" else None
    area_dev_full = None
    if engine == "library":
        # The same bands unrounded: what the geometry handling itself changes, apart from
        # the rounding of vertices to 1e-4 degrees.
        from era5_contours.science.contours import contour_field

        full, _ = contour_field(
            field["lon"], field["lat"], field["values"], field["levels"], lines=False,
            precision=None,
        )  # fmt: skip
        area_dev_full = band_area_deviation(field, full)

    traced_peak = None
    if trace:
        texts_kept = texts
        texts = extra = None
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        runner(field)
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        texts = texts_kept

    result = {
        "engine": engine,
        "field": field["meta"],
        "shape": list(field["values"].shape),
        "levels": field["levels"].tolist(),
        "repeat": repeat,
        "times_s": totals,
        "median_s": statistics.median(totals),
        "min_s": min(totals),
        "stages_median_s": {k: statistics.median(v) for k, v in stages.items()},
        "baseline_rss_mib": baseline,
        "peak_rss_delta_mib": peak - baseline,
        "peak_rss_method": "VmHWM after clear_refs" if exact_peak else "max RSS",
        "tracemalloc_peak_mib": traced_peak,
        "output": output_stats(texts),
    }
    if area_dev is not None:
        result["band_area_max_rel_dev"] = area_dev
        result["band_area_max_rel_dev_unrounded"] = area_dev_full
    if floors:
        result["interleaved_floor_s"] = floors
        result["interleaved_ratios"] = [t / f for t, f in zip(totals, floors, strict=True)]
    return result


def child_contourpy(field_path: Path, repeat: int) -> dict[str, Any]:
    """contourpy's serial vs threaded generators on the library's inputs and fill type.

    The threaded generator only parallelises over chunks, and chunked output cuts every
    polygon at the chunk edges; the "+ dissolve" row adds the seam removal the library
    would then need (``shapely.coverage_union_all`` per band).
    """
    import contourpy
    import shapely
    from shapely import GeometryType

    from era5_contours.science.contours import close_longitude

    field = load_field(field_path)
    lon, values = close_longitude(field["lon"], field["values"])
    lat, levels = field["lat"], field["levels"]
    z = np.ma.masked_invalid(values)
    edges = [-np.inf, *levels.tolist(), np.inf]

    def generator(name: str, chunk_count: int, threads: int):
        kwargs: dict[str, Any] = {"thread_count": threads} if name == "threaded" else {}
        return contourpy.contour_generator(
            lon,
            lat,
            z,
            name=name,
            corner_mask=True,
            chunk_count=chunk_count,
            fill_type=contourpy.FillType.ChunkCombinedOffsetOffset,
            line_type=contourpy.LineType.ChunkCombinedOffset,
            **kwargs,
        )

    def _dissolve(polys: np.ndarray):
        # Saddle-touching rings are invalid and break the fast coverage union.
        invalid = ~shapely.is_valid(polys)
        if invalid.any():
            polys = polys.copy()
            polys[invalid] = shapely.make_valid(polys[invalid])
        try:
            return shapely.coverage_union_all(polys)
        except shapely.errors.GEOSException:
            return shapely.union_all(polys)

    def contour_all(name: str, chunk_count: int, threads: int, dissolve: bool):
        gen = generator(name, chunk_count, threads)
        n_polygons = 0
        for lower, upper in itertools.pairwise(edges):
            points, offsets, outers = gen.filled(lower, upper)
            pieces = [
                shapely.from_ragged_array(
                    GeometryType.POLYGON, p, (o.astype(np.int64), oo.astype(np.int64))
                )
                for p, o, oo in zip(points, offsets, outers, strict=True)
                if p is not None and len(p)
            ]
            polys = np.concatenate(pieces) if pieces else np.empty(0, dtype=object)
            if dissolve and polys.size:
                polys = shapely.get_parts(_dissolve(polys))
            n_polygons += polys.size
        for level in levels.tolist():
            gen.lines(level)
        return n_polygons

    variants = [
        ("serial, 1 chunk (library)", "serial", 0, 1, False),
        ("serial, 2x2 chunks", "serial", 2, 1, False),
        ("threaded x2, 2x2 chunks", "threaded", 2, 2, False),
        ("threaded x2, 4x4 chunks", "threaded", 4, 2, False),
        ("threaded x2, 2x2 chunks + dissolve", "threaded", 2, 2, True),
    ]
    # Rounds over all variants (the first one untimed) so load drift hits them alike.
    times: list[list[float]] = [[] for _ in variants]
    polygons = [0] * len(variants)
    for round_ in range(repeat + 1):
        for i, (_, name, chunks, threads, dissolve) in enumerate(variants):
            gc.collect()
            t0 = time.perf_counter()
            polygons[i] = contour_all(name, chunks, threads, dissolve)
            if round_:
                times[i].append(time.perf_counter() - t0)
    out = [
        {"variant": v[0], "median_s": statistics.median(t), "min_s": min(t), "polygons": int(n)}
        for v, t, n in zip(variants, times, polygons, strict=True)
    ]
    return {"field": field["meta"], "variants": out}


# --------------------------------------------------------------------------- parent


def spawn(args: list[str]) -> dict[str, Any]:
    """Run one engine on one field in a fresh interpreter; its JSON report."""
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def versions() -> dict[str, str]:
    """Versions of the libraries measured."""
    import contourpy
    import matplotlib
    import shapely

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "contourpy": contourpy.__version__,
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "matplotlib": matplotlib.__version__,
        "geojsoncontour": version("geojsoncontour"),
        "cpus": str(os.cpu_count()),
        "machine": f"{platform.system()} {platform.machine()}",
    }


def load_average() -> str:
    """The machine's load averages, printed beside the figures."""
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "-"


def _ratios(seed: dict[str, Any], lib: dict[str, Any]) -> str:
    def ratio(a: float | None, b: float | None) -> str:
        return f"x{a / b:.2f}" if a is not None and b else "-"

    return ", ".join(
        [
            f"time {ratio(seed['median_s'], lib['median_s'])} (median)",
            f"{ratio(seed['min_s'], lib['min_s'])} (min)",
            f"peak RSS {ratio(seed['peak_rss_delta_mib'], lib['peak_rss_delta_mib'])}",
            f"tracemalloc {ratio(seed['tracemalloc_peak_mib'], lib['tracemalloc_peak_mib'])}",
            f"GeoJSON bytes {ratio(seed['output']['bytes'], lib['output']['bytes'])}",
        ]
    )


def render(report: dict[str, Any]) -> str:
    """The plain-text tables printed to stdout."""
    v = report["versions"]
    lines = [
        "Contour benchmark: library (contourpy + shapely) vs seed (pyplot + geojsoncontour)",
        f"python {v['python']}, numpy {v['numpy']}, contourpy {v['contourpy']}, "
        f"shapely {v['shapely']} (GEOS {v['geos']}), matplotlib {v['matplotlib']}, "
        f"geojsoncontour {v['geojsoncontour']}; {v['cpus']} CPUs, {v['machine']}; "
        f"load average (1/5/15 min) {report['load_start']} at start, {report['load_end']} at end",
        f"{report['repeat']} timed repeats per engine and field, each engine in a fresh "
        "subprocess; times are wall seconds per field (bands + lines + GeoJSON text)",
        "",
    ]
    header = (
        f"{'field':<22} {'engine':<8} {'median s':>9} {'min s':>8} {'seed/lib':>8} "
        f"{'peak RSS':>9} {'tracemal':>9} {'GeoJSON':>8} {'features':>9} {'polygons':>8} "
        f"{'valid poly':>10} {'invalid':>7} {'valid band':>10}"
    )
    units = (
        f"{'':<22} {'':<8} {'':>9} {'':>8} {'(median)':>8} {'+MiB':>9} {'MiB':>9} "
        f"{'MB':>8} {'band+line':>9} {'':>8} {'':>10} {'poly':>7} {'feature':>10}"
    )
    lines += [header, units, "-" * len(header)]
    for fr in report["fields"]:
        res = fr["results"]
        lib = res.get("library")
        for engine in ENGINES:
            r = res.get(engine)
            if r is None:
                continue
            o = r["output"]
            ratio = (
                f"x{r['median_s'] / lib['median_s']:.2f}"
                if lib and engine == "seed" and lib["median_s"] > 0
                else ""
            )
            traced = r["tracemalloc_peak_mib"]
            lines.append(
                f"{fr['name'] if engine == ENGINES[0] else '':<22} {engine:<8} "
                f"{r['median_s']:>9.3f} {r['min_s']:>8.3f} {ratio:>8} "
                f"{r['peak_rss_delta_mib']:>9.1f} "
                f"{'-' if traced is None else format(traced, '.1f'):>9} "
                f"{o['bytes'] / 1e6:>8.2f} "
                f"{o['band_features']:>4}+{o['line_features']:<4} {o['polygons']:>8} "
                f"{_pct(o['valid_polygons'], o['polygons']):>10} "
                f"{o['polygons'] - o['valid_polygons']:>7} "
                f"{_pct(o['valid_band_features'], o['band_features']):>10}"
            )
        seed = res.get("seed")
        if lib and seed:
            lines.append(f"{'':<22} seed/library: {_ratios(seed, lib)}")
        floor = res.get("contourpy")
        # The goals are set on the global field; the small real fields are shown
        # for what they are (there, fixed costs per call and per polygon dominate).
        goal = (lambda g: f" [goal {g}]") if fr["key"] == "global" else (lambda g: "")
        if lib and floor:
            lines.append(
                f"{'':<22} library/contourpy: x{lib['min_s'] / floor['min_s']:.2f} (min), "
                f"x{lib['median_s'] / floor['median_s']:.2f} (median){goal('<= 3')}; "
                f"seed/library: x{seed['min_s'] / lib['min_s']:.2f} (min){goal('>= 5')}"
                if seed
                else f"{'':<22} library/contourpy: x{lib['min_s'] / floor['min_s']:.2f} (min)"
            )
        if lib and lib.get("interleaved_ratios"):
            ratios = lib["interleaved_ratios"]
            lines.append(
                f"{'':<22} library/contourpy run back to back in one process: median "
                f"x{statistics.median(ratios):.2f}, best x{min(ratios):.2f} over {len(ratios)} "
                f"repeats{goal('<= 3')}"
            )
        if lib and "band_area_max_rel_dev" in lib:
            lines.append(
                f"{'':<22} band areas vs raw contourpy polygons: largest relative difference "
                f"{lib['band_area_max_rel_dev']:.2e} at 4 decimals, "
                f"{lib['band_area_max_rel_dev_unrounded']:.2e} unrounded{goal('<= 1e-5')}"
            )
        lines.append("")

    lines.append("Stage medians (s)")
    for fr in report["fields"]:
        for engine in ENGINES:
            r = fr["results"].get(engine)
            if r is None:
                continue
            st = ", ".join(f"{k} {s:.3f}" for k, s in r["stages_median_s"].items())
            lines.append(f"  {fr['name']:<22} {engine:<8} {st}")
    lines.append("")

    invalid = [
        (fr["name"], e, r["output"])
        for fr in report["fields"]
        for e, r in fr["results"].items()
        if r["output"]["invalid_reasons"]
    ]
    if invalid:
        lines.append("Invalid polygons by GEOS reason")
        for name, engine, o in invalid:
            reasons = ", ".join(f"{k}: {n}" for k, n in o["invalid_reasons"].items())
            lines.append(f"  {name:<22} {engine:<8} {reasons}")
        lines.append("")

    cp = report.get("contourpy")
    if cp:
        lines.append(
            f"contourpy generators on {cp['field']['name']} "
            f"(13 filled bands + 12 line levels, no shapely cleaning)"
        )
        base = cp["variants"][0]["min_s"]
        for var in cp["variants"]:
            lines.append(
                f"  {var['variant']:<36} median {var['median_s']:.3f} s  min {var['min_s']:.3f} s"
                f"  speed-up x{base / var['min_s']:.2f} (min)  polygons {var['polygons']}"
            )
        lib = next(
            (f["results"].get("library") for f in report["fields"] if f["key"] == "global"),
            None,
        )
        if lib:
            lines.append(
                f"  contourpy serial is {100 * base / lib['min_s']:.0f}% of the library's "
                f"total on this field (min vs min)"
            )
        lines.append("")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    lines.append(f"wall time of the whole benchmark: {report['wall_s']:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (default 5)")
    parser.add_argument("--json", type=Path, help="also write the full results to this file")
    parser.add_argument(
        "--fields",
        default="global,t2m,tp",
        help="comma list of global (synthetic 0.25 deg), t2m, tp (real ERA5); default all",
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"real ERA5 samples (default {DEFAULT_DATA_DIR})")  # fmt: skip
    parser.add_argument("--day", type=date.fromisoformat, default=date(2020, 7, 1),
                        help="day of the real fields (default 2020-07-01)")  # fmt: skip
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced run")
    parser.add_argument("--no-threaded", action="store_true",
                        help="skip the contourpy serial/threaded comparison")  # fmt: skip
    parser.add_argument("--child", choices=[*ENGINES, "generators"], help=argparse.SUPPRESS)
    parser.add_argument("--field", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.child == "generators":
        print(json.dumps(child_contourpy(args.field, args.repeat)))
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.field, args.repeat, not args.no_tracemalloc)))
        return 0

    names = [n.strip() for n in args.fields.split(",") if n.strip()]
    unknown = set(names) - {"global", "t2m", "tp"}
    if unknown:
        parser.error(f"unknown fields {sorted(unknown)}")
    started = time.perf_counter()
    report: dict[str, Any] = {"versions": versions(), "repeat": args.repeat, "fields": []}
    report["load_start"] = load_average()
    with tempfile.TemporaryDirectory(prefix="bench_contours_") as tmp:
        paths, notes = build_fields(names, args.data_dir, args.day, Path(tmp))
        report["notes"] = notes
        for path in paths:
            entry = {"key": path.stem, "name": load_field(path)["meta"]["name"], "results": {}}
            for engine in ENGINES:
                flags = ["--child", engine, "--field", str(path), "--repeat", str(args.repeat)]
                if args.no_tracemalloc:
                    flags.append("--no-tracemalloc")
                print(f"... {entry['name']}: {engine}", file=sys.stderr, flush=True)
                entry["results"][engine] = spawn(flags)
            report["fields"].append(entry)
        global_path = Path(tmp) / "global.npz"
        if not args.no_threaded and global_path.exists():
            print("... contourpy serial vs threaded", file=sys.stderr, flush=True)
            flags = ["--child", "generators", "--field", str(global_path)]
            report["contourpy"] = spawn([*flags, "--repeat", str(args.repeat)])
    report["wall_s"] = time.perf_counter() - started
    report["load_end"] = load_average()
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
