/**
 * The live page at `/` (issue 15): the imbalance panels for people without Grafana. One HTML
 * document with inline CSS, inline JavaScript and SVG drawn by that script: no build step, no
 * external asset, nothing fetched but `state` (every second) and `state/history` (every
 * history interval, for the charts over time, so they are not empty on load). Every figure
 * shown is a field of those two documents; each such element carries `data-field` (the path
 * in /state), `data-key` (a category or partition) and `data-value` (the raw number), which is
 * how test/http/live-page.test.ts compares the page with /state.
 *
 * Category ids come from the event stream: they reach the DOM as text nodes only
 * (`textContent`), never as markup. The Content-Security-Policy allows exactly the inline
 * script and style below (by SHA-256 hash), requests to the page's own origin, and nothing else.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root { --fg: #1d232b; --muted: #5b6672; --line: #d8dde3; --bg: #f4f6f8; --panel: #fff; --ok: #1a7f37; --bad: #c62828; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 14px; padding: 8px 16px; background: #1d232b; color: #fff; }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
header .spacer { flex: 1; }
header .meta { color: #c5ccd4; font-size: 12px; }
.badge { padding: 2px 10px; border-radius: 10px; font-weight: 600; font-size: 12px; background: #6b7580; }
.badge.ok { background: var(--ok); }
.badge.bad { background: var(--bad); }
main { padding: 10px 16px 16px; }
.banner { display: none; margin-bottom: 8px; padding: 6px 10px; border-radius: 4px; background: #fff4e5; border: 1px solid #f0c36d; }
.banner.on { display: block; }
.tiles { display: grid; grid-template-columns: repeat(8, 1fr); gap: 8px; margin-bottom: 10px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.tile .k { color: var(--muted); font-size: 11px; letter-spacing: .02em; }
.tile .v { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: 1.3fr 1fr 1fr; gap: 10px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; }
.panel h2 { font-size: 13px; margin: 0 0 6px; font-weight: 600; }
.panel h2 small { color: var(--muted); font-weight: 400; }
.tall { grid-row: span 2; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th { text-align: left; color: var(--muted); font-weight: 500; font-size: 11px; padding: 0 4px 3px; }
td { padding: 1px 4px; white-space: nowrap; }
td.n, th.n { text-align: right; }
td.cat { max-width: 120px; overflow: hidden; text-overflow: ellipsis; }
tr.more td { color: var(--muted); }
svg { display: block; }
svg text { font: 10px system-ui, sans-serif; fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 4px; font-variant-numeric: tabular-nums; }
span.sw { display: inline-block; vertical-align: middle; margin-right: 4px; }
span.sw svg { display: inline-block; vertical-align: middle; }
.legend b { font-weight: 600; }
.rows { display: grid; grid-template-columns: auto 1fr auto; gap: 2px 8px; align-items: center; font-variant-numeric: tabular-nums; }
.rows .n, .kv .n { text-align: right; }
.kv { display: grid; grid-template-columns: 1fr auto 1fr auto; gap: 2px 8px; font-variant-numeric: tabular-nums; }
.kv .n { padding-right: 10px; }
.kv.one { grid-template-columns: 1fr auto; }
.muted { color: var(--muted); }
.reasons { margin: 4px 0 0; padding-left: 18px; color: var(--bad); }
.sub, .panel h2.sub { margin-top: 12px; }
`;

// Plain ES2020, run as is by the browser (no backticks or template placeholders: this is a template literal).
const SCRIPT = `
'use strict';
(function () {
  var POLL_MS = 1000;
  var MAX_ROWS = 20;
  var NS = 'http://www.w3.org/2000/svg';
  var C = { macro: '#D55E00', micro: '#0072B2', recs: '#CC79A7', inter: '#009E73', fresh: '#0072B2', replay: '#E69F00', synthetic: '#CC79A7', bar: '#0072B2', weight: '#E69F00', lag: '#56B4E9', track: '#e9edf1', grid: '#e3e7eb' };
  var history = null;
  var historyAt = -Infinity;
  var clockOffset = 0;
  var prev = null;
  var renders = 0;

  function byId(id) { return document.getElementById(id); }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : 0; }
  function obj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {}; }
  function node(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function svgNode(tag, attrs) {
    var n = document.createElementNS(NS, tag);
    for (var k in attrs) n.setAttribute(k, String(attrs[k]));
    return n;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); return n; }
  var FMT = {
    int: function (v) { return Math.round(v).toString().replace(/\\B(?=(\\d{3})+(?!\\d))/g, ','); },
    pct: function (v) { return (100 * v).toFixed(1) + '%'; },
    dec2: function (v) { return v.toFixed(2); },
    dec3: function (v) { return v.toFixed(3); },
    bool: function (v) { return v ? 'yes' : 'no'; }
  };
  /** An element showing one /state field: the text as formatted, the raw value in data-value. */
  function show(n, path, key, value, fmt) {
    n.textContent = FMT[fmt](value);
    n.setAttribute('data-field', path);
    if (key !== null) n.setAttribute('data-key', key);
    n.setAttribute('data-value', String(value));
    n.setAttribute('data-fmt', fmt);
    return n;
  }
  function swatch(color) {
    var s = svgNode('svg', { width: 10, height: 10, 'class': 'sw' });
    s.appendChild(svgNode('rect', { width: 10, height: 10, rx: 2, fill: color }));
    var w = node('span', 'sw');
    w.appendChild(s);
    return w;
  }
  function bar(width, frac, color) {
    var s = svgNode('svg', { width: width, height: 10 });
    s.appendChild(svgNode('rect', { width: width, height: 10, rx: 2, fill: C.track }));
    s.appendChild(svgNode('rect', { width: Math.max(0, Math.min(1, frac)) * width, height: 10, rx: 2, fill: color }));
    return s;
  }
  function niceCeil(v) {
    if (!(v > 0)) return 0.1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }
  function ago(ms) {
    var s = Math.round(ms / 1000);
    if (s < 60) return '-' + s + ' s';
    var m = Math.round(s / 60);
    return '-' + m + ' min';
  }

  /** A line chart of rates in [0, 1], series [{ name, color, points: [[t, v]] }] over time; the last point of each series is its current value. */
  function lineChart(host, series, asPct) {
    var W = Math.max(200, host.clientWidth || 360), H = 150, L = 36, R = 10, T = 6, B = 18;
    var s = svgNode('svg', { width: W, height: H });
    var t0 = Infinity, t1 = -Infinity, vmax = 0, count = 0;
    series.forEach(function (x) {
      x.points.forEach(function (p) { t0 = Math.min(t0, p[0]); t1 = Math.max(t1, p[0]); vmax = Math.max(vmax, p[1]); });
      count = Math.max(count, x.points.length);
    });
    var top = Math.min(1, niceCeil(vmax * 1.05));
    if (!(t1 > t0)) { t0 = t1 - 1000; }
    function X(t) { return L + ((t - t0) / (t1 - t0)) * (W - L - R); }
    function Y(v) { return T + (1 - v / top) * (H - T - B); }
    [0, 0.5, 1].forEach(function (f) {
      var y = Y(f * top);
      s.appendChild(svgNode('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: C.grid }));
      var label = svgNode('text', { x: L - 4, y: y + 3, 'text-anchor': 'end' });
      label.textContent = asPct ? (100 * f * top).toFixed(top < 0.1 ? 1 : 0) + '%' : (f * top).toFixed(top < 0.1 ? 3 : 2);
      s.appendChild(label);
    });
    var left = svgNode('text', { x: L, y: H - 4, 'text-anchor': 'start' });
    left.textContent = count > 0 ? ago(t1 - t0) : '';
    s.appendChild(left);
    var right = svgNode('text', { x: W - R, y: H - 4, 'text-anchor': 'end' });
    right.textContent = 'now';
    s.appendChild(right);
    series.forEach(function (x) {
      if (x.points.length === 0) return;
      var lastP = x.points[x.points.length - 1];
      var pts = x.points.map(function (p) { return X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1); }).join(' ');
      s.appendChild(svgNode('polyline', { points: pts, fill: 'none', stroke: x.color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'vector-effect': 'non-scaling-stroke', 'data-series': x.name, 'data-points': x.points.length, 'data-last': lastP[1] }));
      s.appendChild(svgNode('circle', { cx: X(lastP[0]), cy: Y(lastP[1]), r: 2.5, fill: x.color }));
    });
    clear(host).appendChild(s);
  }

  function seriesOf(key, liveValue, nowT) {
    var pts = [];
    if (history) history.samples.forEach(function (x) { pts.push([num(x.t), num(x[key])]); });
    if (pts.length === 0 || nowT > pts[pts.length - 1][0]) pts.push([nowT, liveValue]);
    return pts;
  }

  function legendItem(host, color, label, path, value) {
    var item = node('span');
    item.appendChild(swatch(color));
    item.appendChild(document.createTextNode(label + ' '));
    item.appendChild(show(node('b'), path, null, value, 'dec3'));
    host.appendChild(item);
  }

  function renderCategories(s) {
    var shares = obj(obj(s.window).shares), weights = obj(s.weights), hits = obj(obj(s.evaluation).hitRateByCategory);
    var cats = Object.keys(shares).sort(function (a, b) { return num(shares[b]) - num(shares[a]) || (a < b ? -1 : 1); });
    var maxShare = 0, maxWeight = 0;
    cats.forEach(function (c) { maxShare = Math.max(maxShare, num(shares[c])); maxWeight = Math.max(maxWeight, num(weights[c])); });
    var body = clear(byId('cats'));
    cats.slice(0, MAX_ROWS).forEach(function (c) {
      var tr = node('tr');
      tr.appendChild(node('td', 'cat', c));
      var b1 = node('td'); b1.appendChild(bar(110, maxShare > 0 ? num(shares[c]) / maxShare : 0, C.bar)); tr.appendChild(b1);
      tr.appendChild(show(node('td', 'n'), 'window.shares', c, num(shares[c]), 'pct'));
      var b2 = node('td'); b2.appendChild(bar(70, maxWeight > 0 ? num(weights[c]) / maxWeight : 0, C.weight)); tr.appendChild(b2);
      tr.appendChild(Object.prototype.hasOwnProperty.call(weights, c) ? show(node('td', 'n'), 'weights', c, num(weights[c]), 'dec2') : node('td', 'n muted', '-'));
      tr.appendChild(Object.prototype.hasOwnProperty.call(hits, c) ? show(node('td', 'n'), 'evaluation.hitRateByCategory', c, num(hits[c]), 'dec3') : node('td', 'n muted', '-'));
      body.appendChild(tr);
    });
    if (cats.length > MAX_ROWS) {
      var rest = 0;
      cats.slice(MAX_ROWS).forEach(function (c) { rest += num(shares[c]); });
      var tr = node('tr', 'more');
      var td = node('td', '', (cats.length - MAX_ROWS) + ' more categories: ' + FMT.pct(rest) + ' of the window');
      td.colSpan = 6;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function renderReplay(s) {
    var t = obj(s.trainingSamples);
    var parts = [['fresh', num(t.fresh)], ['replay', num(t.replay)], ['synthetic', num(t.synthetic)]];
    var total = parts.reduce(function (a, p) { return a + p[1]; }, 0);
    var W = 300;
    var sv = svgNode('svg', { viewBox: '0 0 ' + W + ' 14', width: '100%', height: 14, preserveAspectRatio: 'none' });
    sv.appendChild(svgNode('rect', { width: W, height: 14, fill: C.track }));
    var x = 0;
    parts.forEach(function (p) {
      var w = total > 0 ? (p[1] / total) * W : 0;
      sv.appendChild(svgNode('rect', { x: x, width: w, height: 14, fill: C[p[0]] }));
      x += w;
    });
    clear(byId('replay-bar')).appendChild(sv);
    var rows = clear(byId('replay'));
    parts.forEach(function (p) {
      var label = node('span');
      label.appendChild(swatch(C[p[0]]));
      label.appendChild(document.createTextNode(p[0]));
      rows.appendChild(label);
      rows.appendChild(show(node('span', 'n'), 'trainingSamples.' + p[0], null, p[1], 'int'));
      rows.appendChild(node('span', 'n muted', total > 0 ? FMT.pct(p[1] / total) : '-'));
    });
  }

  function renderLag(s) {
    var lag = obj(obj(s.consumer).lag);
    var parts = Object.keys(lag).sort(function (a, b) { return Number(a) - Number(b); });
    var max = 0, total = 0;
    parts.forEach(function (p) { max = Math.max(max, num(lag[p])); total += num(lag[p]); });
    var rows = clear(byId('lag'));
    parts.forEach(function (p) {
      rows.appendChild(node('span', '', 'partition ' + p));
      rows.appendChild(bar(120, max > 0 ? num(lag[p]) / max : 0, C.lag));
      rows.appendChild(show(node('span', 'n'), 'consumer.lag', p, num(lag[p]), 'int'));
    });
    if (parts.length === 0) rows.appendChild(node('span', 'muted', 'no partition assigned'));
    byId('lag-total').textContent = 'total ' + FMT.int(total);
  }

  var COUNT_ORDER = ['deadLettered', 'invalid', 'duplicates', 'late', 'lost'];
  function renderCounts(s) {
    var totals = obj(s.totals), dl = obj(s.deadLetters);
    var rows = clear(byId('counts'));
    function row(label, path, value) {
      rows.appendChild(node('span', '', label));
      rows.appendChild(show(node('span', 'n'), path, null, value, 'int'));
    }
    var keys = COUNT_ORDER.filter(function (k) { return typeof totals[k] === 'number'; });
    Object.keys(totals).forEach(function (k) {
      if (keys.indexOf(k) < 0 && typeof totals[k] === 'number' && k !== 'applied' && k !== 'recommendationsProduced') keys.push(k);
    });
    keys.forEach(function (k) { row(k === 'deadLettered' ? 'dead-lettered' : k, 'totals.' + k, totals[k]); });
    ['pending', 'truncated', 'dropped'].forEach(function (k) { if (typeof dl[k] === 'number') row('DLQ ' + k, 'deadLetters.' + k, dl[k]); });
  }

  function renderHealth(s) {
    var r = obj(s.readiness), consumer = obj(s.consumer), model = obj(s.model), ready = s.ready === true;
    var badge = byId('ready');
    badge.className = 'badge ' + (ready ? 'ok' : 'bad');
    badge.textContent = ready ? 'READY' : 'NOT READY';
    badge.setAttribute('data-field', 'ready');
    badge.setAttribute('data-value', String(ready));
    var list = clear(byId('reasons'));
    (Array.isArray(r.reasons) ? r.reasons : []).forEach(function (x) { list.appendChild(node('li', '', String(x))); });
    var rows = clear(byId('health'));
    function row(label, n) { rows.appendChild(node('span', '', label)); rows.appendChild(n); }
    row('consumer up', show(node('span', 'n'), 'consumer.up', null, consumer.up === true, 'bool'));
    row('consumer paused', show(node('span', 'n'), 'consumer.paused', null, consumer.paused === true, 'bool'));
    row('training steps', show(node('span', 'n'), 'model.steps', null, num(model.steps), 'int'));
    row('events trained', show(node('span', 'n'), 'model.trainedEvents', null, num(model.trainedEvents), 'int'));
    row('recommendations produced', show(node('span', 'n'), 'totals.recommendationsProduced', null, num(obj(s.totals).recommendationsProduced), 'int'));
    byId('version').textContent = 'model ' + String(model.version === undefined ? 'none' : model.version);
  }

  function render(s, clientNow) {
    var totals = obj(s.totals), win = obj(s.window), imb = obj(s.imbalance), ev = obj(s.evaluation), tail = obj(s.tailShare);
    var nowT = clientNow + clockOffset;
    show(byId('applied'), 'totals.applied', null, num(totals.applied), 'int');
    byId('rate').textContent = prev === null ? '-' : FMT.int(Math.max(0, (num(totals.applied) - prev.applied) * 1000 / Math.max(1, clientNow - prev.at)));
    prev = { applied: num(totals.applied), at: clientNow };
    show(byId('window-events'), 'window.events', null, num(win.events), 'int');
    show(byId('window-categories'), 'window.categories', null, num(win.categories), 'int');
    show(byId('ir'), 'imbalance.ratio', null, num(imb.ratio), 'dec2');
    show(byId('entropy'), 'imbalance.entropyNormalized', null, num(imb.entropyNormalized), 'dec3');
    show(byId('gini'), 'imbalance.gini', null, num(imb.gini), 'dec3');
    show(byId('tau'), 'evaluation.adjustment.tau', null, num(obj(ev.adjustment).tau), 'dec2');
    renderCategories(s);

    var hitSeries = [
      { name: 'macro', color: C.macro, points: seriesOf('hitRateMacro', num(ev.hitRateMacro), nowT) },
      { name: 'micro', color: C.micro, points: seriesOf('hitRateMicro', num(ev.hitRateMicro), nowT) }
    ];
    lineChart(byId('hit-chart'), hitSeries, false);
    var hl = clear(byId('hit-legend'));
    legendItem(hl, C.macro, 'macro (mean over categories)', 'evaluation.hitRateMacro', num(ev.hitRateMacro));
    legendItem(hl, C.micro, 'micro (over events)', 'evaluation.hitRateMicro', num(ev.hitRateMicro));

    var tailSeries = [
      { name: 'recommendations', color: C.recs, points: seriesOf('tailShareRecommendations', num(tail.recommendations), nowT) },
      { name: 'interactions', color: C.inter, points: seriesOf('tailShareInteractions', num(tail.interactions), nowT) }
    ];
    lineChart(byId('tail-chart'), tailSeries, true);
    var tl = clear(byId('tail-legend'));
    [['recommendations', 'recommended items', C.recs], ['interactions', 'window interactions', C.inter]].forEach(function (x) {
      tl.appendChild(node('span', '', x[1]));
      tl.appendChild(bar(120, num(tail[x[0]]), x[2]));
      tl.appendChild(show(node('span', 'n'), 'tailShare.' + x[0], null, num(tail[x[0]]), 'pct'));
    });

    renderReplay(s);
    renderLag(s);
    renderCounts(s);
    renderHealth(s);
    byId('updated').textContent = 'updated ' + new Date(clientNow).toLocaleTimeString();
    byId('starting').className = 'banner';
    renders++;
    document.body.setAttribute('data-renders', String(renders));
  }

  function problem(text) {
    var b = byId('starting');
    b.textContent = text;
    b.className = 'banner on';
  }

  function getJson(url) {
    return fetch(url, { cache: 'no-store', headers: { accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function refreshHistory(clientNow) {
    var every = history ? Math.min(Math.max(num(history.intervalMs), 1000), 30000) : 0;
    if (clientNow - historyAt < every) return Promise.resolve();
    historyAt = clientNow;
    return getJson('state/history').then(function (h) {
      var doc = obj(h);
      history = { intervalMs: num(doc.intervalMs), samples: Array.isArray(doc.samples) ? doc.samples : [] };
      if (typeof doc.now === 'number') clockOffset = doc.now - Date.now();
    });
  }

  function tick() {
    var clientNow = Date.now();
    refreshHistory(clientNow)
      .then(function () { return getJson('state'); })
      .then(function (s) {
        var state = obj(s);
        if (typeof state.starting === 'string') problem('The service is starting: ' + state.starting);
        else render(state, Date.now());
      })
      .catch(function (err) { problem('No answer from the service (' + (err && err.message ? err.message : String(err)) + '); retrying every second.'); })
      .then(function () { setTimeout(tick, POLL_MS); });
  }
  tick();
})();
`;

const BODY = `
<header>
  <h1>rebalancer · live</h1>
  <span id="ready" class="badge">…</span>
  <span class="spacer"></span>
  <span id="version" class="meta"></span>
  <span id="updated" class="meta"></span>
</header>
<main>
  <div id="starting" class="banner on">Loading /state …</div>
  <div class="tiles">
    <div class="tile"><div class="k">events applied</div><div class="v" id="applied">-</div></div>
    <div class="tile"><div class="k">events / s</div><div class="v" id="rate">-</div></div>
    <div class="tile"><div class="k">window events</div><div class="v" id="window-events">-</div></div>
    <div class="tile"><div class="k">categories</div><div class="v" id="window-categories">-</div></div>
    <div class="tile"><div class="k">imbalance ratio</div><div class="v" id="ir">-</div></div>
    <div class="tile"><div class="k">norm. entropy</div><div class="v" id="entropy">-</div></div>
    <div class="tile"><div class="k">Gini</div><div class="v" id="gini">-</div></div>
    <div class="tile"><div class="k">serving τ</div><div class="v" id="tau">-</div></div>
  </div>
  <div class="grid">
    <section class="panel tall">
      <h2>Categories <small>share of the window · class weight · prequential hit-rate</small></h2>
      <table>
        <thead><tr><th>category</th><th colspan="2">window share</th><th colspan="2">class weight</th><th class="n">hit-rate</th></tr></thead>
        <tbody id="cats"></tbody>
      </table>
    </section>
    <section class="panel">
      <h2>Hit-rate: macro vs micro <small>prequential, over time</small></h2>
      <div id="hit-chart"></div>
      <div id="hit-legend" class="legend"></div>
    </section>
    <section class="panel">
      <h2>Tail share <small>of recommendations vs of interactions</small></h2>
      <div id="tail-chart"></div>
      <div id="tail-legend" class="rows"></div>
    </section>
    <section class="panel">
      <h2>Replay mix <small>training samples by source, since start</small></h2>
      <div id="replay-bar"></div>
      <div id="replay" class="rows sub"></div>
      <h2 class="sub">Consumer lag <small id="lag-total"></small></h2>
      <div id="lag" class="rows"></div>
    </section>
    <section class="panel">
      <h2>Dead letters and input</h2>
      <div id="counts" class="kv"></div>
      <h2 class="sub">Readiness</h2>
      <div id="health" class="kv one"></div>
      <ul id="reasons" class="reasons"></ul>
    </section>
  </div>
</main>
`;

/** The page, served as is. */
export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rebalancer · live</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * The page's Content-Security-Policy (CSP Level 3, https://www.w3.org/TR/CSP3/): its one inline
 * script and one inline style by hash, fetches to its own origin, the empty data: favicon;
 * nothing else (no other scripts, frames, forms, plugins or origins). The script draws SVG
 * with attributes and never sets `style` attributes, which this policy would block.
 */
export const LIVE_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Response headers of the page. */
export const LIVE_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': LIVE_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** The URL to open for a server listening on `host`:`port` (a wildcard address is opened on loopback). */
export function livePageUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '[::1]' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${h}:${port}/`;
}
