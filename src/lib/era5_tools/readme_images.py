"""The README's pictures: what a user of the job sees, made by the job's own code.

``python -m era5_tools.readme_images`` writes into ``docs/images/``:

- ``t2m_france_2020-07-01.png`` and ``tp_france_2020-07-01.png``: the PNG maps of the
  real France July 2020 ERA5 files kept in ``tests/data/era5`` (Copernicus data), as the
  job draws them (the same daily rules, levels, palettes and labelled isolines);
- ``isobars_synthetic.png``: the labelled isobars of a made-up pressure field, through
  the same plotting function, for the mean sea level pressure the job does not read yet;
- ``viewer_france_2020-07-01.png``: the map viewer at full width (1280x800) over the same
  day's GeoJSON, taken in headless Chromium (skipped, saying why, without Chromium,
  chromedriver, selenium or npm).

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

import numpy as np
import xarray as xr

from era5_common.logs import configure_logging
from era5_contours.outputs.plots import render_map_png
from era5_contours.run.config import JobConfig
from era5_contours.run.tasks import contour_outputs
from era5_contours.science.daily import read_daily
from era5_contours.science.levels import LevelScheme
from era5_tools import repository_root

logger = logging.getLogger(__name__)

DAY = date(2020, 7, 1)
FILES = {
    "t2m": "era5_france_2020-07_hourly_instant_t2m.nc",
    "tp": "era5_france_2020-07_hourly_accum_tp.nc",
}
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


def pressure_field() -> xr.DataArray:
    """A made-up mean sea level pressure (hPa): a low west of Scotland, a high over the Alps."""
    lon = np.arange(-30.0, 30.01, 0.25)
    lat = np.arange(35.0, 65.01, 0.25)
    x, y = np.meshgrid(lon, lat)
    low = 28.0 * np.exp(-(((x + 12.0) / 9.0) ** 2 + ((y - 57.0) / 6.0) ** 2))
    high = 22.0 * np.exp(-(((x - 12.0) / 14.0) ** 2 + ((y - 44.0) / 8.0) ** 2))
    return xr.DataArray(
        1013.0 - low + high + 0.15 * (y - 50.0),
        dims=("latitude", "longitude"),
        coords={"latitude": lat, "longitude": lon},
        attrs={"units": "hPa", "long_name": "mean sea level pressure (synthetic field)"},
    )


def write_maps(data_dir: Path, out_dir: Path, geojson_dir: Path | None = None) -> list[Path]:
    """The PNG maps (and, into ``geojson_dir``, the day's GeoJSON for the viewer)."""
    config = JobConfig.from_args(
        {
            "input_path": str(data_dir),
            "output_path": str(out_dir),
            "start_date": DAY.isoformat(),
            "end_date": DAY.isoformat(),
        }
    )
    written = []
    for variable, name in FILES.items():
        source = str(data_dir / name)
        field = read_daily([source], DAY, variable).field("era5")
        _, geojson, png = contour_outputs(field, config, [source])
        assert png is not None
        path = out_dir / f"{variable}_france_{DAY.isoformat()}.png"
        path.write_bytes(png)
        written.append(path)
        if geojson_dir is not None:
            target = geojson_dir / "contours" / variable / f"{DAY.isoformat()}.geojson"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(geojson)
    scheme = LevelScheme.interval(4.0, 0.0, 960.0, 1048.0, cmap="pressure")
    path = out_dir / "isobars_synthetic.png"
    path.write_bytes(render_map_png(pressure_field(), scheme.levels_for(), cmap=scheme.cmap))
    written.append(path)
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
            driver.get(f"{server.url}?variable=t2m&day={DAY.isoformat()}")
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
