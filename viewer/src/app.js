/*
 * ERA5 daily contours viewer: one variable and day of the job's GeoJSON on a Leaflet map.
 *
 * Data come from `data/` next to the page (override: ?data=URL/): `data/index.json`
 * ({"variables": [...], "days": {variable: [day, ...]}}) and
 * `data/contours/{variable}/{day}.geojson`. There is no base layer unless ?tiles=URL is
 * given (e.g. ?tiles=https://tile.openstreetmap.org/{z}/{x}/{y}.png&attribution=...), so
 * the page renders without the network. Tests read window.viewerState and the legend's
 * data- attributes; a `viewer:loaded` event fires on document after each load.
 */
(function () {
  'use strict';

  const params = new URLSearchParams(window.location.search);
  const DATA_URL = withSlash(params.get('data') || 'data/');
  const BORDERS_URL = params.get('borders') === '0' ? null : 'api/borders.geojson';
  const LABELS = { t2m: '2 m temperature', tp: 'Total precipitation' };
  const DATA_ATTRIBUTION = 'Contains modified Copernicus Climate Change Service information';

  const variableSelect = document.getElementById('variable');
  const daySelect = document.getElementById('day');
  const prevButton = document.getElementById('prev-day');
  const nextButton = document.getElementById('next-day');
  const statusEl = document.getElementById('status');

  let index = { variables: [], days: {} };
  let contourLayer = null;
  let fittedBounds = null;
  let bordersLayer = null;
  let bordersBox = null;
  let loadSeq = 0;
  let loadCount = 0;

  setState({ loaded: false, variable: null, day: null, bandCount: 0, lineCount: 0 });

  const map = L.map('map', { zoomSnap: 0.25, preferCanvas: false });
  map.setView([45, 5], 4);
  L.control.scale({ imperial: false }).addTo(map);
  // Borders above the bands (like the PNG maps) but below tooltips, and not clickable.
  const bordersPane = map.createPane('borders');
  bordersPane.style.zIndex = 450;
  bordersPane.style.pointerEvents = 'none';

  const tiles = params.get('tiles');
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: params.get('attribution') || '' }).addTo(map);
  }

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

  variableSelect.addEventListener('change', () => {
    fillDays(variableSelect.value, daySelect.value);
    loadSelected();
  });
  daySelect.addEventListener('change', loadSelected);
  prevButton.addEventListener('click', () => stepDay(-1));
  nextButton.addEventListener('click', () => stepDay(1));

  start();

  async function start() {
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
    loadSelected();
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
    return { variables, days };
  }

  function fillVariables(selected) {
    variableSelect.replaceChildren(
      ...index.variables.map((v) => new Option(LABELS[v] ? `${LABELS[v]} (${v})` : v, v)),
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
    // Bands first so isolines draw on top of them whatever the file's order.
    contourLayer = L.geoJSON(
      { type: 'FeatureCollection', features: [...bands, ...lines] },
      { style: styleOf, onEachFeature: bindFeature, attribution: DATA_ATTRIBUTION },
    ).addTo(map);

    const bounds = contourLayer.getBounds();
    if (bounds.isValid() && !sameArea(bounds, fittedBounds)) {
      map.fitBounds(bounds, { padding: [12, 12] });
      fittedBounds = bounds;
    }
    const units = firstProperty(features, 'units') || '';
    const legendItems = buildLegend(bands, variable, day, units);
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
    const title = String(p.title ?? '');
    layer.bindTooltip(escapeHtml(title), { sticky: true, direction: 'top', className: 'contour-tooltip' });
    layer.bindPopup(popupHtml(p, kindOf(feature)));
    const base = styleOf(feature);
    layer.on('mouseover', () => layer.setStyle({ weight: base.weight + 2 }));
    layer.on('mouseout', () => layer.setStyle({ weight: base.weight }));
  }

  function popupHtml(p, kind) {
    const rows = [
      ['variable', p.variable],
      ['day', p.day],
      ['dataset', p.dataset],
      kind === 'band' ? ['lower', p.level_lower ?? 'open'] : ['level', p.level],
      kind === 'band' ? ['upper', p.level_upper ?? 'open'] : null,
      ['units', p.units],
    ].filter((r) => r && r[1] !== undefined && r[1] !== null);
    const dl = rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`).join('');
    const what = kind === 'band' ? 'Band' : 'Isoline';
    return `<div class="contour-popup"><strong>${what} ${escapeHtml(String(p.title ?? ''))}</strong><dl>${dl}</dl></div>`;
  }

  function buildLegend(bands, variable, day, units) {
    const byIndex = new Map();
    bands.forEach((f, order) => {
      const p = f.properties || {};
      const key = Number.isFinite(p.band_index) ? p.band_index : order;
      if (!byIndex.has(key)) byIndex.set(key, p);
    });
    const entries = [...byIndex.entries()].sort((a, b) => a[0] - b[0]);

    const title = document.createElement('div');
    title.className = 'legend-title';
    title.textContent = `${LABELS[variable] || variable}${units ? ` (${units})` : ''}, ${day}`;
    const list = document.createElement('ul');
    for (const [bandIndex, p] of entries) {
      const item = document.createElement('li');
      item.className = 'legend-item';
      item.dataset.bandIndex = String(bandIndex);
      item.dataset.title = String(p.title ?? '');
      item.dataset.fill = String(p.fill || '');
      const swatch = document.createElement('span');
      swatch.className = 'legend-swatch';
      swatch.style.background = p.fill || '#888888';
      swatch.style.opacity = String(num(p['fill-opacity'], 1));
      const label = document.createElement('span');
      label.className = 'legend-label';
      label.textContent = String(p.title ?? '');
      item.append(swatch, label);
      list.append(item);
    }
    legendEl.replaceChildren(title, list);
    legendEl.dataset.variable = variable;
    legendEl.dataset.day = day;
    legendEl.dataset.bandCount = String(entries.length);
    legendEl.hidden = entries.length === 0;
    return entries.length;
  }

  // Country borders and coastlines from the local server (Natural Earth, offline), for
  // orientation without a tile layer; silently absent when the server has none.
  async function loadBorders(bounds) {
    if (!BORDERS_URL) {
      map.getContainer().dataset.borders = 'off';
      return;
    }
    const pad = 2;
    const box = [
      Math.floor(bounds.getWest() - pad),
      Math.floor(bounds.getSouth() - pad),
      Math.ceil(bounds.getEast() + pad),
      Math.ceil(bounds.getNorth() + pad),
    ].join(',');
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
