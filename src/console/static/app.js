// outbox console page: renders the state the server pushes over server-sent events (/api/events).
// Plain DOM and SVG, no build step. Every value is set with textContent, never as HTML.
'use strict';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];
let token = '';
let source;
let last;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children) if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  return node;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const num = (n, digits = 0) => (n === null || n === undefined ? '–' : Number(n).toFixed(digits));
const rate = (n) => (n === null || n === undefined ? '–' : `${n.toFixed(n < 10 ? 1 : 0)}/s`);

function breaker(state) {
  if (!state) return el('span', { class: 'muted' }, '–');
  return el('span', { class: state === 'closed' ? 'ok' : 'bad' }, state);
}

function card(label, value, testid, cls) {
  return el('div', { class: 'card', 'data-testid': testid }, el('div', { class: 'label' }, label), el('div', { class: `value ${cls || ''}` }, value));
}

function renderOverview(state) {
  const s = state.source;
  const leader = s.leader;
  const relays = state.relay.instances;
  const relayText = relays.length === 0 ? 'no /metrics configured' : relays.map((r) => `${r.endpoint}: ${r.error ? 'unreachable' : r.leader ? 'leader' : 'standby'}`).join(', ');
  $('overview').replaceChildren(
    card('leader (epoch)', leader ? `${leader.id || 'none'} (${leader.epoch})` : '–', 'leader', leader && leader.id ? '' : 'bad'),
    card('backlog', num(s.backlog), 'backlog'),
    card('oldest unpublished', age(s.oldestUnpublishedAgeSeconds), 'oldest-unpublished', s.oldestUnpublishedAgeSeconds > 60 ? 'warn' : ''),
    card('oldest open transaction', age(s.oldestOpenTransactionAgeSeconds), 'oldest-open-transaction', s.oldestOpenTransactionAgeSeconds > 300 ? 'warn' : ''),
    card('publish rate', rate(state.relay.publishRate), 'publish-rate'),
    card('SNS breaker', breaker(state.relay.breaker), 'sns-breaker'),
    card('relay instances', relayText, 'relays'),
    card('outbox schema', s.schemaVersion ? `${s.schema} v${s.schemaVersion.database}${s.schemaVersion.pending ? ` (${s.schemaVersion.pending} pending)` : ''}` : s.schema, 'schema'),
  );
  const error = s.error || relays.filter((r) => r.error).map((r) => r.error).join('; ');
  $('error').hidden = !error;
  $('error').textContent = error || '';
}

function renderTables(state) {
  const rows = state.source.tables.map((t) => {
    const b = t.backfill;
    const backfill = !b ? '–' : b.status === 'COMPLETED' ? `done, ${b.rowsDone} rows` : `${b.status === 'FAILED' ? 'FAILED at ' : b.running ? '' : 'interrupted at '}${b.rowsDone}${b.rowsEstimate !== null ? `/${b.rowsEstimate}` : ''} rows${b.percent !== null ? ` (${b.percent}%)` : ''}`;
    return el('tr', { 'data-table': t.table }, el('td', {}, t.table), el('td', {}, t.mode), el('td', {}, b && b.running ? el('progress', { max: 100, value: b.percent || 0 }) : '', ' ', backfill), el('td', {}, num(t.backlog)));
  });
  $('tables').tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'no tracked tables (outbox track schema.table)'))]));
}

function renderTargets(state) {
  const rows = state.targets.map((t) => {
    const schema = t.halted ? el('span', { class: 'bad' }, `${t.schemaChanges}: halted${t.halts.length ? ` at ${t.halts[0].sourceTable} seq ${t.halts[0].seq}` : ''}`) : `${t.schemaChanges}${t.halted === false ? ', running' : ''}`;
    const consumer = !t.consumer ? el('span', { class: 'muted' }, 'no /metrics configured') : t.consumer.error ? el('span', { class: 'bad', title: t.consumer.error }, 'unreachable') : t.consumer.endpoint;
    return el(
      'tr',
      { 'data-target': t.name },
      el('td', {}, `${t.name} `, el('span', { class: 'muted' }, t.kind)),
      el('td', { class: 'queue' }, t.queue ? num(t.queue.visible) : el('span', { class: 'bad', title: t.queueError || '' }, '?')),
      el('td', { class: 'in-flight' }, t.queue ? num(t.queue.inFlight) : '–'),
      el('td', { class: `dlq ${t.dlq && t.dlq.visible + t.dlq.inFlight > 0 ? 'bad' : ''}` }, t.dlq ? num(t.dlq.visible + t.dlq.inFlight) : '–'),
      el('td', { class: 'lag' }, t.lagSeconds === null ? '–' : age(t.lagSeconds)),
      el('td', { class: 'apply-rate' }, rate(t.applyRate)),
      el('td', { class: 'breaker' }, breaker(t.breaker)),
      el('td', { class: 'schema-changes' }, schema),
      el('td', {}, consumer),
    );
  });
  $('targets').tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 9, class: 'muted' }, 'no targets in the config'))]));
}

async function act(target, kind, button) {
  button.disabled = true;
  try {
    const res = await fetch(`/api/targets/${encodeURIComponent(target)}/${kind}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) showError((await res.json().catch(() => ({}))).error || `HTTP ${res.status}`);
  } finally {
    button.disabled = false;
  }
}

function showError(message) {
  $('error').hidden = false;
  $('error').textContent = message;
}

function renderDeadLetters(state) {
  const blocks = state.targets.map((t) => {
    const depth = t.dlq ? t.dlq.visible + t.dlq.inFlight : 0;
    const buttons = state.actions
      ? [el('button', { type: 'button', 'data-action': 'redrive', disabled: depth === 0 || !token }, 'redrive'), el('button', { type: 'button', 'data-action': 'verify', disabled: !token }, 'verify')]
      : [];
    for (const b of buttons) b.addEventListener('click', () => act(t.name, b.dataset.action, b));
    const action = t.action ? el('div', { class: `result ${t.action.state === 'failed' ? 'bad' : ''}`, 'data-testid': 'action' }, `${t.action.kind} ${t.action.state}: ${t.action.summary}`) : null;
    const letters = t.deadLetters.length
      ? el(
          'table',
          { class: 'letters' },
          el('thead', {}, el('tr', {}, ...['time', 'code', 'table', 'op', 'seq', 'key', 'reason'].map((h) => el('th', {}, h)))),
          el('tbody', {}, ...t.deadLetters.map((d) => el('tr', { class: 'dead-letter' }, el('td', {}, d.time || '–'), el('td', {}, d.code || 'SQS'), el('td', {}, d.table || '–'), el('td', {}, d.op || '–'), el('td', {}, d.seq || '–'), el('td', {}, d.key === null ? '–' : JSON.stringify(d.key)), el('td', {}, d.reason)))),
        )
      : el('div', { class: 'muted empty' }, depth ? 'reading…' : 'DLQ empty');
    return el('div', { class: 'target-dlq', 'data-dlq': t.name }, el('h3', {}, `${t.name} `, el('span', { class: 'muted' }, `${depth} message(s)`), ...buttons), action, letters);
  });
  $('dead-letters').replaceChildren(...blocks);
}

function chart(svg, lines, unit) {
  const W = 600, H = 160, L = 44, B = 18, T = 8;
  const now = Date.parse(last.at);
  const from = now - last.historyMinutes * 60_000;
  let max = 0;
  for (const line of lines) for (const p of line.points) if (p.v !== null && p.v > max) max = p.v;
  max = max > 0 ? max * 1.1 : 1;
  const x = (t) => L + ((t - from) / (now - from)) * (W - L - 4);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const ns = 'http://www.w3.org/2000/svg';
  const make = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const parts = [make('line', { class: 'axis', x1: L, y1: H - B, x2: W, y2: H - B }), make('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B })];
  parts.push(make('text', { x: 2, y: T + 8 }, `${max >= 10 ? Math.round(max) : max.toFixed(1)}${unit}`), make('text', { x: 2, y: H - B }, `0${unit}`));
  parts.push(make('text', { x: L, y: H - 4 }, `−${last.historyMinutes} min`), make('text', { x: W - 30, y: H - 4 }, 'now'));
  lines.forEach((line, i) => {
    let segment = [];
    const flush = () => {
      const color = line.color || COLORS[i % COLORS.length];
      if (segment.length === 1) {
        const [cx, cy] = segment[0].split(',');
        parts.push(make('circle', { cx, cy, r: 2.5, fill: color, 'data-series': line.name }));
      } else if (segment.length) parts.push(make('polyline', { points: segment.join(' '), stroke: color, 'data-series': line.name }));
      segment = [];
    };
    for (const p of line.points) {
      if (p.v === null || p.t < from) flush();
      else segment.push(`${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    }
    flush();
  });
  svg.replaceChildren(...parts);
}

function renderCharts(state) {
  $('window').textContent = `last ${state.historyMinutes} min, every ${state.intervalMs / 1000} s, kept in the console's memory`;
  chart($('chart-backlog'), [{ name: 'backlog', points: state.series.backlog || [], color: COLORS[0] }], '');
  const lags = state.targets.map((t, i) => ({ name: `lag:${t.name}`, label: t.name, points: state.series[`lag:${t.name}`] || [], color: COLORS[i % COLORS.length] }));
  chart($('chart-lag'), lags, 's');
  $('lag-legend').replaceChildren(...lags.map((l) => el('span', { style: `--c:${l.color}` }, l.label)));
}

function render(state) {
  last = state;
  $('connection').textContent = 'live';
  $('connection').className = 'badge live';
  $('updated').textContent = `updated ${new Date(state.at).toLocaleTimeString()}`;
  $('token-form').hidden = !state.actions && !needsLogin;
  renderOverview(state);
  renderCharts(state);
  renderTables(state);
  renderTargets(state);
  renderDeadLetters(state);
}

let needsLogin = false;

/**
 * A tick is a state whose charts carry only the newest point per series: append each to the window
 * kept from earlier states, drop points older than the window and series the tick no longer has.
 */
function withTick(previous, tick) {
  const { points, ...state } = tick;
  const from = Date.parse(state.at) - state.historyMinutes * 60_000;
  const series = {};
  for (const [name, point] of Object.entries(points)) {
    const kept = (previous && previous.series[name]) || [];
    series[name] = kept.filter((p) => p.t >= from && p.t < point.t).concat([point]);
  }
  return { ...state, series };
}

async function connect() {
  if (source) source.close();
  const probe = await fetch('/api/state').catch(() => null);
  if (probe && probe.status === 401) {
    needsLogin = true;
    $('token-form').hidden = false;
    $('connection').textContent = 'token needed';
    $('connection').className = 'badge down';
    return;
  }
  if (probe && probe.ok) render(await probe.json());
  source = new EventSource('/api/events');
  source.addEventListener('state', (e) => render(JSON.parse(e.data)));
  source.addEventListener('tick', (e) => render(withTick(last, JSON.parse(e.data))));
  source.addEventListener('error', () => {
    $('connection').textContent = 'reconnecting…';
    $('connection').className = 'badge down';
  });
}

$('token-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  token = $('token').value;
  if (needsLogin) {
    const res = await fetch('/api/session', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) return showError('wrong token');
    needsLogin = false;
    await connect();
  } else if (last) render(last);
});

connect();
