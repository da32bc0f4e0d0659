"""End to end: the built viewer in headless Debian Chromium over a real output folder.

The output folder is written by the library itself (synthetic sample -> daily field ->
bands and isolines -> GeoJSON; no Spark), the viewer is built with npm when needed, and
the server runs in a thread on a free port. Needs /usr/bin/chromium and chromedriver
(Debian ``chromium`` and ``chromium-driver``), selenium (PyPI) and npm; each test skips
with the reason when one is missing. Screenshots go to the test's ``tmp_path`` and, when
``VIEWER_SCREENSHOT_DIR`` is set, are copied there.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import threading
from datetime import date
from pathlib import Path

import pytest

from era5_contours.inputs import samples
from era5_contours.inputs.datasets import detect_dataset
from era5_contours.run.config import JobConfig
from era5_contours.run.tasks import contour_outputs
from era5_contours.science import daily
from era5_tools import sample, viewer

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
DAYS = (date(2024, 7, 1), date(2024, 7, 2))
VARIABLES = ("t2m", "tp")
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,800",
)


def _chromedriver() -> Path | None:
    found = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return Path(found) if Path(found).is_file() else None


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory) -> Path:
    """Two days of t2m and tp contours, written the way the job lays them out."""
    root = tmp_path_factory.mktemp("viewer_e2e")
    files = sample.generate_sample(
        root / "input", DAYS[0], DAYS[-1], bounds=(-6.0, 41.0, 10.0, 52.0), resolution=0.25
    )
    out = root / "output"
    config = JobConfig.from_args(
        {"input_path": str(root / "input"), "output_path": str(out), "plots": "false",
         "start_date": DAYS[0].isoformat(), "end_date": DAYS[-1].isoformat()}
    )  # fmt: skip
    for day in DAYS:
        for variable in VARIABLES:
            ds = samples.load_day(files, day, [variable])
            field = daily.daily_field(ds, variable, day, detect_dataset(ds).dataset)
            # The job's own GeoJSON of the day (bands, labelled isolines, properties).
            _, text, _ = contour_outputs(field, config, [str(f) for f in files])
            path = out / "contours" / variable / f"{day.isoformat()}.geojson"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text)
    return out


@pytest.fixture(scope="module")
def dist() -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm not installed: the viewer cannot be built (apt-get install npm)")
    try:
        # npm ci when node_modules is stale, npm run build when dist is older than src.
        return viewer.ensure_viewer(viewer.default_viewer_dir())
    except viewer.ViewerNotBuiltError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def base_url(output_dir: Path, dist: Path):
    srv = viewer.make_server(output_dir, dist, host="127.0.0.1", port=0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv.url
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium chromium-driver)")
    chromedriver = _chromedriver()
    if chromedriver is None:
        pytest.skip("chromedriver not found (apt-get install chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Both paths given: Selenium Manager has nothing to look up or download.
    drv = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver)))
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


# --- helpers -----------------------------------------------------------------------------


def _collection(output_dir: Path, variable: str, day: str) -> dict:
    return json.loads((output_dir / "contours" / variable / f"{day}.geojson").read_text())


def _kind(collection: dict, kind: str) -> list[dict]:
    return [f["properties"] for f in collection["features"] if f["properties"]["kind"] == kind]


def _wait_loaded(driver, variable: str, day: str, after: int = 0) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    script = (
        "const s = window.viewerState;"
        "return s && s.loaded && s.variable === arguments[0] && s.day === arguments[1]"
        " && s.loadCount > arguments[2] ? s : null;"
    )
    return WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(script, variable, day, after),
        message=f"viewer never loaded {variable} {day}",
    )


def _open(driver, base_url: str, variable: str, day: str) -> dict:
    driver.get(f"{base_url}?variable={variable}&day={day}")
    return _wait_loaded(driver, variable, day)


def _count(driver, selector: str) -> int:
    return len(driver.find_elements("css selector", selector))


def _legend(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#legend .legend-item')].map(li => ({"
        " index: Number(li.dataset.bandIndex), title: li.dataset.title, fill: li.dataset.fill,"
        " text: li.textContent.trim(), visible: li.getBoundingClientRect().height > 0 }));"
    )


def _assert_matches_file(driver, output_dir: Path, variable: str, day: str) -> None:
    collection = _collection(output_dir, variable, day)
    bands, lines = _kind(collection, "band"), _kind(collection, "line")
    state = driver.execute_script("return window.viewerState;")
    assert (state["bandCount"], state["lineCount"]) == (len(bands), len(lines))
    # One SVG path per feature (a MultiPolygon is one path with several rings).
    assert _count(driver, ".leaflet-overlay-pane path.contour-band") == len(bands)
    assert _count(driver, ".leaflet-overlay-pane path.contour-line") == len(lines)
    assert _count(driver, ".leaflet-overlay-pane path") == len(collection["features"])
    # The bands are drawn in their own colours.
    fills = driver.execute_script(
        "return [...document.querySelectorAll('.leaflet-overlay-pane path.contour-band')]"
        ".map(p => p.getAttribute('fill'));"
    )
    assert sorted(fills) == sorted(b["fill"] for b in bands)
    # The legend lists every band, in band_index order, with its title and colour.
    legend_el = driver.find_element("id", "legend")
    assert legend_el.get_attribute("data-variable") == variable
    assert legend_el.get_attribute("data-day") == day
    assert legend_el.get_attribute("data-band-count") == str(len(bands))
    expected = sorted(bands, key=lambda p: p["band_index"])
    assert _legend(driver) == [
        {
            "index": p["band_index"],
            "title": p["label"],
            "fill": p["fill"],
            "text": p["label"],
            "visible": True,
        }
        for p in expected
    ]


# --- tests -------------------------------------------------------------------------------


def test_first_load_shows_the_first_variable_and_day(driver, base_url, output_dir):
    driver.get(base_url)
    _wait_loaded(driver, "t2m", "2024-07-01")
    _assert_matches_file(driver, output_dir, "t2m", "2024-07-01")
    selects = driver.execute_script(
        "return ['variable', 'day'].map(id => [...document.getElementById(id).options]"
        ".map(o => o.value));"
    )
    assert selects == [["t2m", "tp"], ["2024-07-01", "2024-07-02"]]


def test_the_map_fits_the_contours(driver, base_url, output_dir):
    _open(driver, base_url, "tp", "2024-07-01")
    map_box, data_box = driver.execute_script(
        "const r = e => { const b = e.getBoundingClientRect();"
        " return [b.left, b.top, b.right, b.bottom]; };"
        "const paths = [...document.querySelectorAll('.leaflet-overlay-pane path.contour-band')]"
        ".map(r);"
        "const u = paths.reduce((a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]),"
        " Math.max(a[2], b[2]), Math.max(a[3], b[3])]);"
        "return [r(document.getElementById('map')), u];"
    )
    tolerance = 2  # pixels: stroke widths
    assert data_box[0] >= map_box[0] - tolerance and data_box[1] >= map_box[1] - tolerance
    assert data_box[2] <= map_box[2] + tolerance and data_box[3] <= map_box[3] + tolerance
    map_w, map_h = map_box[2] - map_box[0], map_box[3] - map_box[1]
    data_w, data_h = data_box[2] - data_box[0], data_box[3] - data_box[1]
    # Fitted, not merely inside: the data fill the map along at least one axis.
    assert max(data_w / map_w, data_h / map_h) > 0.8


def test_switching_variable_and_day_reloads(driver, base_url, output_dir):
    from selenium.webdriver.support.ui import Select

    t2m = _collection(output_dir, "t2m", "2024-07-01")
    tp = _collection(output_dir, "tp", "2024-07-01")
    tp_next = _collection(output_dir, "tp", "2024-07-02")
    # The fixture's files differ in size, so a stale map cannot pass for a reload.
    assert len(t2m["features"]) != len(tp["features"]) != len(tp_next["features"])

    state = _open(driver, base_url, "t2m", "2024-07-01")
    Select(driver.find_element("id", "variable")).select_by_value("tp")
    state = _wait_loaded(driver, "tp", "2024-07-01", after=state["loadCount"])
    _assert_matches_file(driver, output_dir, "tp", "2024-07-01")

    driver.find_element("id", "next-day").click()
    state = _wait_loaded(driver, "tp", "2024-07-02", after=state["loadCount"])
    _assert_matches_file(driver, output_dir, "tp", "2024-07-02")
    assert driver.find_element("id", "next-day").get_attribute("disabled") is not None

    Select(driver.find_element("id", "day")).select_by_value("2024-07-01")
    state = _wait_loaded(driver, "tp", "2024-07-01", after=state["loadCount"])
    Select(driver.find_element("id", "variable")).select_by_value("t2m")
    _wait_loaded(driver, "t2m", "2024-07-01", after=state["loadCount"])  # the day is kept
    _assert_matches_file(driver, output_dir, "t2m", "2024-07-01")
    assert "variable=t2m" in driver.current_url and "day=2024-07-01" in driver.current_url


def test_hover_and_click_show_the_title(driver, base_url, output_dir):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, base_url, "t2m", "2024-07-02")
    titles = {
        f["properties"]["label"] for f in _collection(output_dir, "t2m", "2024-07-02")["features"]
    }
    band = max(
        driver.find_elements("css selector", ".leaflet-overlay-pane path.contour-band"),
        key=lambda e: e.size["width"] * e.size["height"],
    )
    ActionChains(driver).move_to_element(band).pause(0.2).move_by_offset(1, 1).perform()
    tooltip = WebDriverWait(driver, 10).until(
        lambda d: d.find_elements("css selector", ".leaflet-tooltip.contour-tooltip")
    )[0]
    # Whatever feature lies under the pointer, its tooltip is one of the file's labels,
    # then where the pointer is.
    text = tooltip.get_attribute("textContent")
    title = next(t for t in titles if text.startswith(t))
    assert re.search(r"\d+\.\d\d°[NS] \d+\.\d\d°[EW]$", text)
    ActionChains(driver).click().perform()
    popup = WebDriverWait(driver, 10).until(
        lambda d: d.find_elements("css selector", ".leaflet-popup-content .contour-popup")
    )[0]
    # textContent: the popup may still be fading in, and .text is "" while it is invisible.
    text = popup.get_attribute("textContent")
    assert title in text and "2024-07-02" in text


def test_page_is_offline_and_error_free(driver, base_url, output_dir):
    _open(driver, base_url, "tp", "2024-07-02")
    origins = driver.execute_script(
        "return [...new Set(performance.getEntriesByType('resource')"
        ".map(e => new URL(e.name).origin))].concat([location.origin]);"
    )
    assert set(origins) == {base_url.rstrip("/")}
    assert driver.find_elements("css selector", ".leaflet-tile") == []  # no base layer
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_missing_file_is_reported(driver, base_url, output_dir, tmp_path):
    _open(driver, base_url, "t2m", "2024-07-01")
    (output_dir / "contours" / "t2m" / "2024-07-02.geojson").rename(tmp_path / "moved.geojson")
    try:
        driver.find_element("id", "next-day").click()
        from selenium.webdriver.support.ui import WebDriverWait

        state = WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("const s = window.viewerState; return s.error ? s : null;")
        )
        assert "404" in state["error"] and state["day"] == "2024-07-02"
        assert "404" in driver.find_element("id", "status").text
        assert _count(driver, ".leaflet-overlay-pane path") == 0
    finally:
        (tmp_path / "moved.geojson").rename(output_dir / "contours" / "t2m" / "2024-07-02.geojson")
        driver.get_log("browser")  # the expected 404 must not fail the offline test


def test_screenshot(driver, base_url, output_dir, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    shots = []
    for variable, day in (("tp", "2024-07-02"), ("t2m", "2024-07-01")):
        _open(driver, base_url, variable, day)
        # The borders arrive after the contours (or are found missing): wait for either.
        WebDriverWait(driver, 30).until(
            lambda d: d.find_element("id", "map").get_attribute("data-borders")
        )
        path = tmp_path / f"viewer_{variable}_{day}.png"
        assert driver.save_screenshot(str(path))
        assert path.stat().st_size > 20_000  # a map, not a blank page
        shots.append(path)
    target = os.environ.get("VIEWER_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for path in shots:
            shutil.copy2(path, Path(target) / path.name)


# --- what a reader sees (issue: maps people read at a glance) ----------------------------


def _click_largest_band(driver) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    band = max(
        driver.find_elements("css selector", ".leaflet-overlay-pane path.contour-band"),
        key=lambda e: e.size["width"] * e.size["height"],
    )
    ActionChains(driver).move_to_element(band).pause(0.2).move_by_offset(1, 1).pause(0.2)
    ActionChains(driver).move_to_element(band).move_by_offset(1, 1).click().perform()


def test_clicking_a_band_draws_no_outline_and_closes_the_tooltip(driver, base_url, output_dir):
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, base_url, "t2m", "2024-07-01")
    _click_largest_band(driver)
    WebDriverWait(driver, 10).until(
        lambda d: d.find_elements("css selector", ".leaflet-popup-content .contour-popup")
    )
    outlines = driver.execute_script(
        "const els = [document.activeElement,"
        " ...document.querySelectorAll('.leaflet-overlay-pane path')];"
        "return els.filter(e => e).map(e => { const s = getComputedStyle(e);"
        " return s.outlineStyle === 'none' || parseFloat(s.outlineWidth) === 0"
        " ? null : `${e.tagName}.${e.getAttribute('class')}: ${s.outline}`; })"
        ".filter(x => x);"
    )
    assert outlines == []
    # The popup has the band; no tooltip is left under it.
    assert (
        driver.execute_script(
            "return [...document.querySelectorAll('.leaflet-tooltip')]"
            ".filter(t => getComputedStyle(t).opacity !== '0').length;"
        )
        == 0
    )


def test_the_legend_reads_like_a_legend(driver, base_url, output_dir):
    _open(driver, base_url, "t2m", "2024-07-01")
    title = driver.find_element("id", "legend-toggle").text
    assert title.startswith("Daily mean 2 m temperature (°C), 2024-07-01")
    assert "synthetic sample" in title
    items = [item["text"] for item in _legend(driver)]
    assert items and all(re.fullmatch(r"(−?\d+–−?\d+|[<>] −?\d+) °C", t) for t in items), items
    _open(driver, base_url, "tp", "2024-07-01")
    assert driver.find_element("id", "legend-toggle").text.startswith(
        "Daily total precipitation (mm), 2024-07-01"
    )
    assert "< 0.1 mm" in [item["text"] for item in _legend(driver)]


def test_a_missing_day_or_variable_is_noticed(driver, base_url, output_dir):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}?variable=t2m&day=2030-01-01")
    _wait_loaded(driver, "t2m", "2024-07-01")
    notice = WebDriverWait(driver, 10).until(lambda d: d.find_element("id", "notice"))
    assert notice.is_displayed()
    assert "2030-01-01" in notice.text and "showing t2m 2024-07-01" in notice.text
    driver.get(f"{base_url}?variable=msl&day=2024-07-02")
    _wait_loaded(driver, "t2m", "2024-07-02")
    notice = driver.find_element("id", "notice")
    assert notice.is_displayed() and "variable msl" in notice.text
    # A day that exists shows no notice.
    _open(driver, base_url, "tp", "2024-07-02")
    assert not driver.find_element("id", "notice").is_displayed()


def test_isolines_are_labelled_at_the_current_zoom(driver, base_url, output_dir):
    state = _open(driver, base_url, "t2m", "2024-07-01")
    lines = _kind(_collection(output_dir, "t2m", "2024-07-01"), "line")
    assert lines and state["labelCount"] > 0
    labels = driver.execute_script(
        "return [...document.querySelectorAll('.contour-label')].map(e => {"
        " const r = e.getBoundingClientRect();"
        " return {text: e.textContent, box: [r.left, r.top, r.right, r.bottom]}; });"
    )
    assert len(labels) == driver.execute_script("return window.viewerState.labelCount;")
    levels = {f"{p['level']:g}".replace("-", "−") for p in lines}
    assert {label["text"] for label in labels} <= levels
    for a, b in itertools.combinations([label["box"] for label in labels], 2):
        assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    # Zooming in places them again for the new scale.
    from selenium.webdriver.support.ui import WebDriverWait

    zoom = driver.execute_script("return document.getElementById('map').dataset.labelZoom;")
    driver.find_element("css selector", ".leaflet-control-zoom-in").click()
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element("id", "map").get_attribute("data-label-zoom") != zoom
    )
    assert int(driver.find_element("id", "map").get_attribute("data-labels")) >= 1


def test_sample_data_are_credited_as_sample_data(driver, base_url, output_dir):
    _open(driver, base_url, "t2m", "2024-07-01")
    attribution = driver.find_element("css selector", ".leaflet-control-attribution").text
    assert "Synthetic sample" in attribution and "Copernicus Climate" not in attribution
    assert driver.execute_script("return window.viewerState.synthetic;") is True


def test_borders_stop_at_the_data(driver, base_url, output_dir):
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, base_url, "t2m", "2024-07-01")
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element("id", "map").get_attribute("data-borders") == "loaded"
    )
    data_box, border_box = driver.execute_script(
        "const u = els => els.map(e => e.getBoundingClientRect()).reduce((a, b) =>"
        " [Math.min(a[0], b.left), Math.min(a[1], b.top), Math.max(a[2], b.right),"
        " Math.max(a[3], b.bottom)], [1e9, 1e9, -1e9, -1e9]);"
        "return [u([...document.querySelectorAll('path.contour-band')]),"
        " u([...document.querySelectorAll('path.border-line')])];"
    )
    tolerance = 3  # pixels: stroke widths
    assert border_box[0] >= data_box[0] - tolerance and border_box[1] >= data_box[1] - tolerance
    assert border_box[2] <= data_box[2] + tolerance and border_box[3] <= data_box[3] + tolerance


def test_a_narrow_window_folds_the_legend(driver, base_url, output_dir, tmp_path):
    driver.set_window_size(500, 800)
    try:
        _open(driver, base_url, "t2m", "2024-07-01")
        legend = driver.find_element("id", "legend")
        map_el = driver.find_element("id", "map")
        assert "collapsed" in legend.get_attribute("class")
        # Folded to its title: a sliver of the map, not half of it.
        share = (legend.size["width"] * legend.size["height"]) / (
            map_el.size["width"] * map_el.size["height"]
        )
        assert share < 0.08, share
        assert not driver.find_element("css selector", "#legend .legend-item").is_displayed()
        driver.find_element("id", "legend-toggle").click()
        assert "collapsed" not in legend.get_attribute("class")
        assert driver.find_element("css selector", "#legend .legend-item").is_displayed()
        # Unfolded it still leaves most of the map visible.
        assert legend.size["height"] <= 0.45 * map_el.size["height"]
        assert driver.save_screenshot(str(tmp_path / "viewer_narrow.png"))
    finally:
        driver.set_window_size(1280, 800)
