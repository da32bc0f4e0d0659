"""The README's pictures: what a user of the job sees, made by the job's own code.

``python -m era5_tools.readme_images`` writes into ``docs/images/``:

- ``{variable}_france_2020-07-01.png``: the PNG map of each variable of the registry that
  the real France July 2020 ERA5 files kept in ``tests/data/era5`` (Copernicus data) can
  make, as the job draws it (the same daily rules, levels, palettes and labelled
  isolines): ``t2m``, ``t2m_max``, ``t2m_min``, ``tp``;
- ``{variable}_sample_2024-07-01.png``: each other variable (sea-level pressure's isobars,
  wind speed) from the synthetic sample over Western Europe (``era5_tools.sample``);
- ``viewer_france_2020-07-01.png``: the map viewer at full width (1280x800) over the
  France day's GeoJSON, taken in headless Chromium (skipped, saying why, without
  Chromium, chromedriver, selenium or npm).

Every file is written anew each time: the pictures follow the code.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from era5_common.logs import configure_logging
from era5_common.variables import DEFAULTS, VARIABLES, recipe_for
from era5_contours.inputs.netcdf import file_time_range
from era5_contours.run.config import JobConfig
from era5_contours.run.tasks import contour_outputs
from era5_contours.science.daily import read_daily
from era5_tools import repository_root
from era5_tools.sample import generate_sample

logger = logging.getLogger(__name__)

DAY = date(2020, 7, 1)
#: The real files: ERA5 over France, July 2020 (tests/data/era5, with their provenance).
FRANCE = ("era5_france_2020-07_hourly_instant_*.nc", "era5_france_2020-07_hourly_accum_*.nc")
SAMPLE_DAY = date(2024, 7, 1)
CHROMIUM = Path("/usr/bin/chromium")
#: The e2e tests' flags: headless, no sandbox (root in a container), no network of its own.
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1280,800",
)


def _config(data_dir: Path, out_dir: Path, day: date) -> JobConfig:
    return JobConfig.from_args(
        {
            "input_path": str(data_dir),
            "output_path": str(out_dir),
            "start_date": day.isoformat(),
            "end_date": day.isoformat(),
        }
    )


def _map(
    sources: Sequence[Path], name: str, day: date, config: JobConfig, out: Path
) -> tuple[Path, bytes]:
    """One variable's PNG (written to ``out``) and GeoJSON, as the job makes them."""
    field = read_daily([str(s) for s in sources], day, name).field()
    _, geojson, png = contour_outputs(field, config, [str(s) for s in sources])
    assert png is not None
    out.write_bytes(png)
    return out, geojson


def write_maps(data_dir: Path, out_dir: Path, geojson_dir: Path | None = None) -> list[Path]:
    """Every variable's PNG map (and, into ``geojson_dir``, the France day's GeoJSON)."""
    france = sorted(f for pattern in FRANCE for f in data_dir.glob(pattern))
    held = {q for f in france for q in file_time_range(f)["variables"]}
    config = _config(data_dir, out_dir, DAY)
    written = []
    rest = []
    for name in VARIABLES:
        if recipe_for(name, held) is None:
            rest.append(name)
            continue
        path, geojson = _map(france, name, DAY, config, out_dir / f"{name}_france_{DAY}.png")
        written.append(path)
        if geojson_dir is not None:
            target = geojson_dir / "contours" / name / f"{DAY.isoformat()}.geojson"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(geojson)
    if rest:
        with tempfile.TemporaryDirectory() as tmp:
            files = generate_sample(tmp, SAMPLE_DAY, SAMPLE_DAY, variables=rest)
            config = _config(Path(tmp), out_dir, SAMPLE_DAY)
            for name in rest:
                target = out_dir / f"{name}_sample_{SAMPLE_DAY}.png"
                written.append(_map(files, name, SAMPLE_DAY, config, target)[0])
    return written


def viewer_screenshot(output_dir: Path, target: Path) -> str | None:
    """The viewer over ``output_dir`` at 1280x800 into ``target``; None, or why not."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (apt-get install chromium chromium-driver)"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not Path(chromedriver).is_file():
        return "chromedriver not found (apt-get install chromium-driver)"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return "selenium not installed (the dev extras)"
    from era5_tools import viewer

    try:
        dist = viewer.ensure_viewer()
    except viewer.ViewerNotBuiltError as exc:
        return str(exc)
    server = viewer.make_server(output_dir, dist, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        try:
            driver.get(f"{server.url}?variable={DEFAULTS[0]}&day={DAY.isoformat()}")
            WebDriverWait(driver, 60).until(
                lambda d: d.find_element("id", "map").get_attribute("data-borders")
            )
            driver.save_screenshot(str(target))
        finally:
            driver.quit()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    return None


def shrink(path: Path) -> None:
    """Rewrite a PNG with a 256-colour palette (a third of the size, alike to the eye).

    The maps have a few dozen colours plus anti-aliasing: the repository keeps them small.
    """
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m era5_tools.readme_images [--output_dir docs/images]``."""
    root = repository_root()
    parser = argparse.ArgumentParser(
        prog="python -m era5_tools.readme_images",
        description="Regenerate the README's map and viewer pictures.",
    )
    parser.add_argument("--output_dir", type=Path, default=root / "docs" / "images")
    parser.add_argument("--data_dir", type=Path, default=root / "tests" / "data" / "era5")
    parser.add_argument("--log_level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level, stream=sys.stderr)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in write_maps(args.data_dir, args.output_dir, geojson_dir=Path(tmp)):
            shrink(path)
            print(path)
        shot = args.output_dir / f"viewer_france_{DAY.isoformat()}.png"
        why_not = viewer_screenshot(Path(tmp), shot)
        if why_not:
            print(f"viewer screenshot skipped: {why_not}")
            return 1
        shrink(shot)
        print(shot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
