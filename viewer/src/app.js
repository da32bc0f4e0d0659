/*
 * ERA5 daily contours viewer: one variable and day of the job's GeoJSON on a Leaflet map.
 *
 * Data come from `data/` next to the page (override: ?data=URL/): `data/index.json`
 * ({"variables": [...], "days": {variable: [day, ...]}}) and
 * `data/contours/{variable}/{day}.geojson`. There is no base layer unless ?tiles=URL is
 * given (e.g. ?tiles=https://tile.openstreetmap.org/{z}/{x}/{y}.png&attribution=...), so
 * the page renders without the network (the server's --basemap gives one by default).
 * Isolines are labelled along the lines for the current zoom. Tests read
 * window.viewerState and the legend's data- attributes; a `viewer:loaded` event fires on
 * document after each load.
 */
(function () {
  'use strict';

  const params = new URLSearchParams(window.location.search);
  const DATA_URL = withSlash(params.get('data') || 'data/');
  const BORDERS_URL = params.get('borders') === '0' ? null : 'api/borders.geojson';
  // What the selector calls each variable: the registry's descriptions, from the index.
  let variableLabels = {};
  const DATA_ATTRIBUTION = 'Contains modified Copernicus Climate Change Service information';
  const SAMPLE_ATTRIBUTION = 'Synthetic sample data (era5_tools.sample), not Copernicus data';
  const UNITS = { degC: '°C', 'm s-1': 'm/s' };
  // Isoline labels: one per this many pixels of line, none on pieces shorter than the
  // minimum, at most a few per piece, never closer to another label than their sizes.
  const LABEL_SPACING_PX = 280;
  const LABEL_MIN_PIECE_PX = 70;
  const LABELS_PER_PIECE = 3;
  const MAX_LABELS = 80;

  const variableSelect = document.getElementById('variable');
  const daySelect = document.getElementById('day');
  const prevButton = document.getElementById('prev-day');
  const nextButton = document.getElementById('next-day');
  const statusEl = document.getElementById('status');
  const noticeEl = document.getElementById('notice');

  let index = { variables: [], days: {} };
  let contourLayer = null;
  let fittedBounds = null;
  let bordersLayer = null;
  let bordersBox = null;
  let loadSeq = 0;
  let loadCount = 0;
  let lineFeatures = [];
  let popupOpen = false;

  setState({ loaded: false, variable: null, day: null, bandCount: 0, lineCount: 0 });

  const map = L.map('map', { zoomSnap: 0.25, preferCanvas: false });
  map.setView([45, 5], 4);
  // On a narrow screen the attribution takes two lines at the bottom: the scale goes up.
  const narrow = window.matchMedia('(max-width: 600px)');
  L.control.scale({ imperial: false, position: narrow.matches ? 'topright' : 'bottomleft' }).addTo(map);
  // Borders above the bands (like the PNG maps) but below tooltips, and not clickable;
  // isoline labels above the borders.
  const bordersPane = map.createPane('borders');
  bordersPane.style.zIndex = 450;
  bordersPane.style.pointerEvents = 'none';
  const labelsPane = map.createPane('labels');
  labelsPane.style.zIndex = 460;
  labelsPane.style.pointerEvents = 'none';
  const labelLayer = L.layerGroup([], { pane: 'labels' }).addTo(map);
  map.on('zoomend moveend', placeLabels);

  // A tooltip under an open popup only hides it: none while a popup is open.
  map.on('popupopen', () => {
    popupOpen = true;
    map.eachLayer((layer) => {
      if (layer.closeTooltip) layer.closeTooltip();
    });
  });
  map.on('popupclose', () => {
    popupOpen = false;
  });

  const legend = L.control({ position: 'bottomright' });
  legend.onAdd = function () {
    const div = L.DomUtil.create('div', 'legend');
    div.id = 'legend';
    div.hidden = true;
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  legend.addTo(map);
  const legendEl = legend.getContainer();
  // On a narrow screen the legend starts folded to its title, so that it hides no data.
  let legendCollapsed = narrow.matches;

  variableSelect.addEventListener('change', () => {
    fillDays(variableSelect.value, daySelect.value);
    loadSelected();
  });
  daySelect.addEventListener('change', loadSelected);
  prevButton.addEventListener('click', () => stepDay(-1));
  nextButton.addEventListener('click', () => stepDay(1));

  start();

  async function start() {
    addBaseLayer(await readConfig());
    try {
      index = normaliseIndex(await fetchJson(`${DATA_URL}index.json`));
    } catch (err) {
      fail(`Cannot read the index: ${err.message}`);
      return;
    }
    if (index.variables.length === 0) {
      fail(`No contour files in ${DATA_URL}contours/`);
      return;
    }
    const wanted = params.get('variable');
    const variable = index.variables.includes(wanted) ? wanted : index.variables[0];
    fillVariables(variable);
    fillDays(variable, params.get('day'));
    // Say so when the URL asked for something that is not there, rather than quietly
    // showing something else.
    const missing = [];
    if (wanted && wanted !== variable) missing.push(`variable ${wanted}`);
    const wantedDay = params.get('day');
    if (wantedDay && wantedDay !== daySelect.value) missing.push(`day ${wantedDay}`);
    if (missing.length) {
      showNotice(
        `There is no ${missing.join(' and no ')} in this output: showing ${variable} ${daySelect.value} instead.`,
      );
    }
    loadSelected();
  }

  // The server's options (a default base layer); a plain static copy has none.
  async function readConfig() {
    try {
      return await fetchJson('api/config.json');
    } catch (err) {
      return {};
    }
  }

  function addBaseLayer(config) {
    const tiles = params.get('tiles') || (config && config.basemap);
    if (!tiles) return;
    const attribution = params.get('attribution') || (config && config.basemap_attribution) || '';
    L.tileLayer(tiles, { maxZoom: 19, attribution }).addTo(map);
  }

  function showNotice(text) {
    noticeEl.textContent = text;
    noticeEl.hidden = !text;
  }

  function normaliseIndex(raw) {
    const days = {};
    const variables = [];
    for (const v of (raw && raw.variables) || []) {
      const list = ((raw.days || {})[v] || []).slice().sort();
      if (list.length) {
        variables.push(v);
        days[v] = list;
      }
    }
    variableLabels = (raw && raw.labels) || {};
    return { variables, days };
  }

  function fillVariables(selected) {
    variableSelect.replaceChildren(
      ...index.variables.map((v) => new Option(variableLabels[v] ? `${variableLabels[v]} (${v})` : v, v)),
    );
    variableSelect.value = selected;
    variableSelect.disabled = false;
  }

  function fillDays(variable, preferred) {
    const days = index.days[variable] || [];
    daySelect.replaceChildren(...days.map((d) => new Option(d, d)));
    // Keep the day when switching variable if the other variable has it too.
    daySelect.value = days.includes(preferred) ? preferred : days[0];
    daySelect.disabled = days.length === 0;
  }

  function stepDay(delta) {
    const i = daySelect.selectedIndex + delta;
    if (i >= 0 && i < daySelect.options.length) {
      daySelect.selectedIndex = i;
      loadSelected();
    }
  }

  function updateButtons() {
    prevButton.disabled = daySelect.disabled || daySelect.selectedIndex <= 0;
    nextButton.disabled = daySelect.disabled || daySelect.selectedIndex >= daySelect.options.length - 1;
  }

  function loadSelected() {
    updateButtons();
    if (loadCount > 0) showNotice('');
    const url = new URL(window.location.href);
    url.searchParams.set('variable', variableSelect.value);
    url.searchParams.set('day', daySelect.value);
    window.history.replaceState(null, '', url);
    return load(variableSelect.value, daySelect.value);
  }

  async function load(variable, day) {
    // A slow response must not overwrite a later selection.
    const seq = ++loadSeq;
    setState({ loaded: false, variable, day, bandCount: 0, lineCount: 0 });
    setStatus(`Loading ${variable} ${day}…`);
    const url = `${DATA_URL}contours/${encodeURIComponent(variable)}/${encodeURIComponent(day)}.geojson`;
    let collection;
    try {
      collection = await fetchJson(url);
    } catch (err) {
      if (seq === loadSeq) {
        clearContours();
        fail(`Cannot load ${variable} ${day}: ${err.message}`, { variable, day });
      }
      return;
    }
    if (seq !== loadSeq) return;
    render(collection, variable, day);
  }

  function render(collection, variable, day) {
    clearContours();
    const features = ((collection && collection.features) || []).filter(
      (f) => f && f.geometry && (kindOf(f) === 'band' || kindOf(f) === 'line'),
    );
    const bands = features.filter((f) => kindOf(f) === 'band');
    const lines = features.filter((f) => kindOf(f) === 'line');
    const synthetic = features.some((f) => (f.properties || {}).synthetic === true);
    // Bands first so isolines draw on top of them whatever the file's order.
    contourLayer = L.geoJSON(
      { type: 'FeatureCollection', features: [...bands, ...lines] },
      {
        style: styleOf,
        onEachFeature: bindFeature,
        attribution: synthetic ? SAMPLE_ATTRIBUTION : DATA_ATTRIBUTION,
      },
    ).addTo(map);
    lineFeatures = lines;

    const bounds = contourLayer.getBounds();
    if (bounds.isValid() && !sameArea(bounds, fittedBounds)) {
      // At once: labels are placed for the view the map ends in.
      map.fitBounds(bounds, { padding: [12, 12], animate: false });
      fittedBounds = bounds;
    }
    const units = firstProperty(features, 'units') || '';
    const description = firstProperty(features, 'description') || variableLabels[variable] || variable;
    const legendItems = buildLegend(bands, variable, day, units, description, synthetic);
    const labelCount = placeLabels();
    const complete = firstProperty(features, 'complete');
    setStatus(
      `${variable} ${day}: ${bands.length} bands, ${lines.length} isolines` +
        (complete === false ? ' (incomplete day)' : ''),
    );
    loadCount += 1;
    setState({
      loaded: true,
      variable,
      day,
      bandCount: bands.length,
      lineCount: lines.length,
      featureCount: features.length,
      legendCount: legendItems,
      labelCount,
      synthetic,
      units,
      dataset: firstProperty(features, 'dataset'),
      bounds: bounds.isValid() ? bounds.toBBoxString().split(',').map(Number) : null,
    });
    document.dispatchEvent(new CustomEvent('viewer:loaded', { detail: window.viewerState }));
    if (bounds.isValid()) loadBorders(bounds);
  }

  function kindOf(feature) {
    const p = feature.properties || {};
    if (p.kind) return p.kind;
    // Plain geojsoncontour output has no `kind`: polygons are bands, lines are isolines.
    return /Polygon/.test(feature.geometry.type) ? 'band' : 'line';
  }

  function styleOf(feature) {
    const p = feature.properties || {};
    const width = num(p['stroke-width'], 1);
    const opacity = num(p['stroke-opacity'], 1);
    if (kindOf(feature) === 'band') {
      return {
        className: 'contour-band',
        fill: true,
        fillColor: p.fill || '#888888',
        fillOpacity: num(p['fill-opacity'], 0.8),
        color: p.stroke || p.fill || '#555555',
        weight: width,
        opacity,
      };
    }
    return {
      className: 'contour-line',
      fill: false,
      color: p.stroke || '#333333',
      weight: width,
      opacity,
    };
  }

  function bindFeature(feature, layer) {
    const p = feature.properties || {};
    const title = labelOf(p);
    layer.bindTooltip(escapeHtml(title), { sticky: true, direction: 'top', className: 'contour-tooltip' });
    layer.on('tooltipopen', () => {
      if (popupOpen) layer.closeTooltip();
    });
    // The value under the pointer's band, and where the pointer is.
    layer.on('mousemove', (e) => {
      const tooltip = layer.getTooltip();
      if (tooltip && !popupOpen) {
        tooltip.setContent(`${escapeHtml(title)}<br><span class="where">${latLonText(e.latlng)}</span>`);
      }
    });
    layer.bindPopup(popupHtml(p, kindOf(feature)));
    const base = styleOf(feature);
    layer.on('mouseover', () => layer.setStyle({ weight: base.weight + 2 }));
    layer.on('mouseout', () => layer.setStyle({ weight: base.weight }));
  }

  function popupHtml(p, kind) {
    const rows = [
      ['variable', p.variable],
      ['day', p.day],
      ['dataset', p.synthetic === true ? `${p.dataset} layout, synthetic sample` : p.dataset],
      kind === 'band' ? ['lower', p.level_lower ?? 'open'] : ['level', p.level],
      kind === 'band' ? ['upper', p.level_upper ?? 'open'] : null,
      ['units', p.units && unitsText(p.units)],
    ].filter((r) => r && r[1] !== undefined && r[1] !== null);
    const dl = rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`).join('');
    const what = kind === 'band' ? 'Band' : 'Isoline';
    return `<div class="contour-popup"><strong>${what} ${escapeHtml(labelOf(p))}</strong><dl>${dl}</dl></div>`;
  }

  // "6–8 °C": the job's label; files written before it have only geojsoncontour's title.
  function labelOf(p) {
    return String(p.label ?? p.title ?? '');
  }

  function unitsText(units) {
    return UNITS[units] || units;
  }

  function numberText(value) {
    return String(Number(value.toPrecision(6))).replace('-', '\u2212');
  }

  function latLonText(latlng) {
    const lat = `${Math.abs(latlng.lat).toFixed(2)}°${latlng.lat >= 0 ? 'N' : 'S'}`;
    const lng = L.Util.wrapNum(latlng.lng, [-180, 180], true);
    return `${lat} ${Math.abs(lng).toFixed(2)}°${lng >= 0 ? 'E' : 'W'}`;
  }

  function buildLegend(bands, variable, day, units, description, synthetic) {
    const byIndex = new Map();
    bands.forEach((f, order) => {
      const p = f.properties || {};
      const key = Number.isFinite(p.band_index) ? p.band_index : order;
      if (!byIndex.has(key)) byIndex.set(key, p);
    });
    const entries = [...byIndex.entries()].sort((a, b) => a[0] - b[0]);

    // The title folds the legend away (narrow screens start folded).
    const title = document.createElement('button');
    title.type = 'button';
    title.className = 'legend-title';
    title.id = 'legend-toggle';
    const shown = units ? ` (${unitsText(units)})` : '';
    title.textContent = `${capitalise(description)}${shown}, ${day}${synthetic ? ' — synthetic sample' : ''}`;
    title.setAttribute('aria-controls', 'legend-list');
    title.addEventListener('click', () => setLegendCollapsed(!legendCollapsed));
    const list = document.createElement('ul');
    list.id = 'legend-list';
    for (const [bandIndex, p] of entries) {
      const item = document.createElement('li');
      item.className = 'legend-item';
      item.dataset.bandIndex = String(bandIndex);
      item.dataset.title = labelOf(p);
      item.dataset.fill = String(p.fill || '');
      const swatch = document.createElement('span');
      swatch.className = 'legend-swatch';
      swatch.style.background = p.fill || '#888888';
      swatch.style.opacity = String(num(p['fill-opacity'], 1));
      const label = document.createElement('span');
      label.className = 'legend-label';
      label.textContent = labelOf(p);
      item.append(swatch, label);
      list.append(item);
    }
    legendEl.replaceChildren(title, list);
    legendEl.dataset.variable = variable;
    legendEl.dataset.day = day;
    legendEl.dataset.bandCount = String(entries.length);
    legendEl.hidden = entries.length === 0;
    setLegendCollapsed(legendCollapsed);
    return entries.length;
  }

  function setLegendCollapsed(collapsed) {
    legendCollapsed = collapsed;
    legendEl.classList.toggle('collapsed', collapsed);
    const toggle = document.getElementById('legend-toggle');
    if (toggle) toggle.setAttribute('aria-expanded', String(!collapsed));
  }

  function capitalise(text) {
    return text ? text[0].toUpperCase() + text.slice(1) : text;
  }

  // Isoline labels for the current view: along each line piece every LABEL_SPACING_PX
  // pixels (a few per piece), turned along the line, kept only on straight stretches,
  // inside the view and clear of every label placed before (longer pieces first), at most
  // MAX_LABELS: a global day has thousands of line pieces.
  function placeLabels() {
    labelLayer.clearLayers();
    if (!lineFeatures.length) {
      map.getContainer().dataset.labels = '0';
      return 0;
    }
    const view = map.getPixelBounds();
    const pieces = [];
    for (const f of lineFeatures) {
      const p = f.properties || {};
      if (!Number.isFinite(p.level)) continue;
      const text = numberText(p.level);
      const g = f.geometry;
      const parts = g.type === 'LineString' ? [g.coordinates] : g.type === 'MultiLineString' ? g.coordinates : [];
      for (const coords of parts) {
        const pts = coords.map(([lng, lat]) => map.project([lat, lng]));
        const along = [0];
        for (let i = 1; i < pts.length; i++) along.push(along[i - 1] + pts[i].distanceTo(pts[i - 1]));
        const total = along[along.length - 1];
        if (total >= LABEL_MIN_PIECE_PX) pieces.push({ pts, along, total, text, color: p.stroke || '#333333' });
      }
    }
    pieces.sort((a, b) => b.total - a.total);
    const kept = [];
    for (const piece of pieces) {
      if (kept.length >= MAX_LABELS) break;
      const width = 7 * piece.text.length + 6;
      const half = (width + 14) / 2;
      const count = Math.min(LABELS_PER_PIECE, Math.max(1, Math.round(piece.total / LABEL_SPACING_PX)));
      for (let j = 0; j < count; j++) {
        const target = ((j + 0.5) * piece.total) / count;
        for (const shift of [0, -width, width, -2 * width, 2 * width]) {
          const s = target + shift;
          if (s - width / 2 < 0 || s + width / 2 > piece.total) continue;
          const a = pointAt(piece, s - width / 2);
          const b = pointAt(piece, s + width / 2);
          if (a.distanceTo(b) < 0.9 * width) continue; // the line bends under the label
          const c = pointAt(piece, s);
          const outside =
            c.x - half < view.min.x || c.x + half > view.max.x || c.y - half < view.min.y || c.y + half > view.max.y;
          if (outside) continue;
          if (kept.some((k) => k.point.distanceTo(c) < Math.SQRT2 * (k.half + half))) continue;
          let angle = (Math.atan2(b.y - a.y, b.x - a.x) * 180) / Math.PI;
          if (angle > 90) angle -= 180;
          if (angle < -90) angle += 180;
          kept.push({ point: c, half });
          const icon = L.divIcon({
            className: 'contour-label-icon',
            html:
              `<span class="contour-label" style="color:${escapeHtml(piece.color)};` +
              `transform:translate(-50%,-50%) rotate(${angle.toFixed(1)}deg)">${escapeHtml(piece.text)}</span>`,
            iconSize: [0, 0],
          });
          L.marker(map.unproject(c), { icon, pane: 'labels', interactive: false, keyboard: false }).addTo(labelLayer);
          break;
        }
      }
    }
    map.getContainer().dataset.labels = String(kept.length);
    map.getContainer().dataset.labelZoom = String(map.getZoom());
    if (window.viewerState && window.viewerState.loaded) setState({ ...window.viewerState, labelCount: kept.length });
    return kept.length;
  }

  function pointAt(piece, s) {
    const { pts, along } = piece;
    let i = 1;
    while (i < along.length - 1 && along[i] < s) i++;
    const span = along[i] - along[i - 1] || 1;
    const t = (s - along[i - 1]) / span;
    return L.point(pts[i - 1].x + (pts[i].x - pts[i - 1].x) * t, pts[i - 1].y + (pts[i].y - pts[i - 1].y) * t);
  }

  // Country borders and coastlines from the local server (Natural Earth, offline), for
  // orientation without a tile layer; silently absent when the server has none.
  async function loadBorders(bounds) {
    if (!BORDERS_URL) {
      map.getContainer().dataset.borders = 'off';
      return;
    }
    // Exactly the data's extent: borders that run on past the data stop in mid-air.
    const box = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
      .map((v) => v.toFixed(3))
      .join(',');
    if (box === bordersBox) return;
    bordersBox = box;
    try {
      const geojson = await fetchJson(`${BORDERS_URL}?bbox=${box}`);
      if (box !== bordersBox) return;
      if (bordersLayer) bordersLayer.remove();
      bordersLayer = L.geoJSON(geojson, {
        pane: 'borders',
        interactive: false,
        style: { className: 'border-line', color: '#333333', weight: 0.8, opacity: 0.8, fill: false },
        attribution: 'Borders: Natural Earth',
      }).addTo(map);
      map.getContainer().dataset.borders = 'loaded';
    } catch (err) {
      map.getContainer().dataset.borders = 'none';
      console.info(`no borders: ${err.message}`);
    }
  }

  function clearContours() {
    if (contourLayer) {
      contourLayer.remove();
      contourLayer = null;
    }
    lineFeatures = [];
    labelLayer.clearLayers();
  }

  function sameArea(a, b) {
    if (!b) return false;
    const tol = 0.01 * Math.max(a.getNorth() - a.getSouth(), a.getEast() - a.getWest(), 1e-6);
    return a.equals(b, tol);
  }

  async function fetchJson(url) {
    const response = await fetch(url, { cache: 'no-cache' });
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
    return response.json();
  }

  function fail(message, extra) {
    setStatus(message, true);
    legendEl.hidden = true;
    setState({ loaded: false, error: message, bandCount: 0, lineCount: 0, ...(extra || {}) });
    document.dispatchEvent(new CustomEvent('viewer:error', { detail: window.viewerState }));
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle('error', Boolean(isError));
  }

  function setState(state) {
    window.viewerState = Object.freeze({ error: null, ...state, loadCount });
  }

  function firstProperty(features, name) {
    for (const f of features) {
      const v = (f.properties || {})[name];
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  }

  function num(value, fallback) {
    const n = Number(value);
    return value === null || value === undefined || Number.isNaN(n) ? fallback : n;
  }

  function withSlash(url) {
    return url.endsWith('/') ? url : `${url}/`;
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }
})();
