// The inspector page: the actor tree, the selected actor's statechart with its live state,
// the timeline of what passes between actors, and time travel through a container's
// recorded history. It only watches: the one thing it asks `runa ui` for is a history.
import { Model, containerOf, stateName, type Actor, type EventKind, type TimelineEvent } from './model.js';
import { highlight, layout, stateId, type Layout } from './chart.js';
import type { PageMessage, ServerMessage } from '../../src/ui/protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const model = new Model();
const ui = {
  conn: $('conn'), count: $('count'), search: $<HTMLInputElement>('search'), tree: $('tree'),
  title: $('actor-title'), chart: $('chart-wrap'), context: $('context'),
  scrub: $<HTMLInputElement>('scrub'), live: $<HTMLButtonElement>('live'), scrubLabel: $('scrub-label'),
  fContainer: $<HTMLSelectElement>('f-container'), fKind: $<HTMLSelectElement>('f-kind'), fType: $<HTMLInputElement>('f-type'),
  timeline: $('timeline-body'), shown: $('timeline-count'),
};

let ws: WebSocket | null = null;
let selected: string | null = null;
/** null: live; else the index into the selected container's history */
let travel: number | null = null;

function send(msg: PageMessage): void {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

// ---------------------------------------------------------------- connection

function connect(delay = 250): void {
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws.onopen = () => { delay = 250; setConn('connected', 'ok'); };
  ws.onmessage = (e) => receive(JSON.parse(String(e.data)) as ServerMessage);
  ws.onclose = () => {
    setConn('disconnected from runa ui: retrying', 'down');
    setTimeout(() => connect(Math.min(delay * 2, 5000)), delay);
  };
}

function setConn(text: string, state: string): void {
  ui.conn.textContent = text;
  ui.conn.dataset.state = state;
}

let refetch: number | null = null;
function receive(msg: ServerMessage): void {
  if (msg.kind === 'error') { console.warn('runa ui:', msg.message); return; }
  const touched = model.apply(msg);
  if (msg.kind === 'daemon') setConn(msg.up ? 'connected' : 'the daemon is not running: waiting for it', msg.up ? 'ok' : 'down');
  if (msg.kind === 'snapshot') setConn('connected', 'ok');
  // The selected container's history follows it while we are live.
  const c = containerOf(selected);
  if (c && touched.has(c) && msg.kind !== 'history' && refetch === null) {
    refetch = window.setTimeout(() => { refetch = null; send({ kind: 'history', id: c }); }, 200);
  }
  schedule();
}

// ---------------------------------------------------------------- rendering

/** What rendering costs, for `npm run bench` (read through the page, never asserted on in tests). */
const stats = { renders: 0, totalMs: 0, maxMs: 0 };
(window as unknown as { runaStats: typeof stats }).runaStats = stats;

let queued = false;
function schedule(): void {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    const t0 = performance.now();
    renderTree();
    void renderDetail();
    renderTimeline();
    const ms = performance.now() - t0;
    stats.renders++;
    stats.totalMs += ms;
    stats.maxMs = Math.max(stats.maxMs, ms);
  });
}
setInterval(() => { if (model.sweep()) schedule(); }, 1000);

const rows = new Map<string, HTMLElement>();
let shape = -1;
let query = '';

function label(a: Actor): { kind: string; name: string } {
  const [kind, rest] = [a.address.slice(0, a.address.indexOf(':')), a.address.slice(a.address.indexOf(':') + 1)];
  if (kind === 'process') {
    const [, name] = rest.split('/');
    return name === 'init' ? { kind: 'init', name: rest.split('/')[0] } : { kind: 'exec', name: name.slice(0, 8) };
  }
  return { kind, name: rest };
}

function pidOf(a: Actor): string {
  const ctx = (a.context ?? {}) as Record<string, unknown>;
  return typeof ctx.pid === 'number' ? `pid ${ctx.pid}` : '';
}

function newRow(actor: Actor): HTMLElement {
  const row = document.createElement('div');
  row.className = 'row';
  row.dataset.address = actor.address;
  row.setAttribute('role', 'treeitem');
  const { kind, name } = label(actor);
  row.innerHTML = '<span class="kind"></span><span class="name"></span><span class="value"></span><span class="pid"></span>';
  (row.children[0] as HTMLElement).textContent = kind;
  (row.children[1] as HTMLElement).textContent = name;
  row.onclick = () => select(actor.address);
  return row;
}

/** A row's changing parts, written only where they changed (DOM writes are what costs). */
function updateRow(row: HTMLElement, actor: Actor): void {
  const value = stateName(actor.value);
  if (row.dataset.value !== value) { row.dataset.value = value; (row.children[2] as HTMLElement).textContent = value; }
  const pid = pidOf(actor);
  const pidEl = row.children[3] as HTMLElement;
  if (pidEl.textContent !== pid) pidEl.textContent = pid;
  const ended = actor.endedAt !== null;
  if (row.classList.contains('ended') !== ended) row.classList.toggle('ended', ended);
}

/**
 * The tree: rebuilt in order only when actors come, go or move; otherwise only the rows of
 * the actors that changed are touched. Stays cheap with a thousand actors.
 */
function renderTree(): void {
  const q = ui.search.value.trim().toLowerCase();
  const structural = model.membership !== shape;
  if (structural) {
    shape = model.membership;
    const items = model.tree();
    const seen = new Set<string>();
    for (const { actor, depth } of items) {
      seen.add(actor.address);
      let row = rows.get(actor.address);
      if (!row) rows.set(actor.address, (row = newRow(actor)));
      updateRow(row, actor);
      const pad = `${8 + depth * 16}px`;
      if (row.style.paddingLeft !== pad) row.style.paddingLeft = pad;
    }
    for (const [address, row] of rows) if (!seen.has(address)) { row.remove(); rows.delete(address); }
    // Only rows that are new or out of place are moved: a burst of new actors stays cheap.
    let cursor = ui.tree.firstElementChild;
    for (const { actor } of items) {
      const row = rows.get(actor.address)!;
      if (row === cursor) cursor = cursor.nextElementSibling;
      else ui.tree.insertBefore(row, cursor);
    }
    // The container filter offers every container seen.
    const have = new Set([...ui.fContainer.options].map((o) => o.value));
    const ids = new Set<string>();
    for (const { actor } of items) { const c = containerOf(actor.address); if (c && !have.has(c)) ids.add(c); }
    for (const id of [...ids].sort()) ui.fContainer.add(new Option(id, id));
  } else {
    for (const address of model.dirty) {
      const row = rows.get(address);
      const actor = model.actors.get(address);
      if (row && actor) updateRow(row, actor);
    }
  }
  const changed = model.dirty.size > 0;
  model.dirty.clear();
  for (const row of ui.tree.querySelectorAll('.row.selected')) if ((row as HTMLElement).dataset.address !== selected) row.classList.remove('selected');
  if (selected) rows.get(selected)?.classList.add('selected');
  // A row matches on its address, state or pid; its ancestors stay visible with it.
  if (structural || q !== query || (q && changed)) {
    query = q;
    const visible = new Set<string>();
    if (q) {
      for (const actor of model.actors.values()) {
        const text = `${actor.address} ${stateName(actor.value)} ${pidOf(actor)}`.toLowerCase();
        if (!text.includes(q)) continue;
        for (let a: Actor | undefined = actor; a && !visible.has(a.address); a = a.parent ? model.actors.get(a.parent) : undefined) visible.add(a.address);
      }
    }
    for (const [address, row] of rows) {
      const hide = q !== '' && !visible.has(address);
      if (row.hidden !== hide) row.hidden = hide;
    }
  }
  let live = 0;
  for (const a of model.actors.values()) if (a.endedAt === null) live++;
  const count = `${live} live actor${live === 1 ? '' : 's'}`;
  if (ui.count.textContent !== count) ui.count.textContent = count;
}

function select(address: string): void {
  if (selected === address) return;
  selected = address;
  travel = null;
  const c = containerOf(address);
  if (c) send({ kind: 'history', id: c });
  schedule();
}

let shownChart: Layout | null = null;
async function renderDetail(): Promise<void> {
  const a = selected ? model.actors.get(selected) : undefined;
  if (!a) {
    ui.title.textContent = selected ? `${selected} (gone)` : 'Select an actor';
    return;
  }
  ui.title.textContent = `${a.address} · ${a.machine}${a.endedAt !== null ? ' · ended' : ''}`;
  const container = containerOf(a.address)!;
  const history = model.histories.get(container) ?? [];
  ui.scrub.max = String(Math.max(0, history.length - 1));
  ui.scrub.disabled = history.length === 0;
  if (travel === null) ui.scrub.value = ui.scrub.max;
  let value = a.value;
  let context = a.context;
  let last: { source: string; targets: string[] } | null = a.last;
  const def = model.definitions.get(a.machine);
  const chart = def ? await layout(a.machine, def) : null;
  if (travel !== null && history.length) {
    const i = Math.min(travel, history.length - 1);
    const then = model.asOf(container, a.address, i);
    value = then.value;
    context = then.context ?? '(not recorded)';
    last = null;
    if (chart && then.step) {
      const src = stateId(chart, then.step.from);
      const dst = stateId(chart, then.step.to);
      if (src && dst) last = { source: src, targets: [dst] };
    }
    const e = history[i];
    ui.scrubLabel.textContent = `${i + 1}/${history.length} · ${new Date(e.at).toISOString().slice(11, 23)} · ${e.kind === 'transition' ? `${e.actor} ${e.type}: ${e.from} → ${e.to}` : `${e.from} → ${e.to} ${e.type}`}`;
    ui.live.disabled = false;
    document.body.dataset.travel = 'on';
  } else {
    ui.scrubLabel.textContent = history.length ? `live · ${history.length} recorded events` : 'live';
    ui.live.disabled = true;
    delete document.body.dataset.travel;
  }
  if (chart) {
    if (shownChart !== chart) { ui.chart.replaceChildren(chart.svg); shownChart = chart; }
    highlight(chart, value, last);
  } else {
    ui.chart.textContent = `no definition for machine ${a.machine}`;
    shownChart = null;
  }
  ui.chart.dataset.value = stateName(value);
  const text = JSON.stringify(context, null, 2) ?? '';
  if (ui.context.textContent !== text) ui.context.textContent = text;
}

const KINDS: EventKind[] = ['request', 'message', 'event', 'transition', 'action', 'actor'];
for (const k of KINDS) ui.fKind.add(new Option(k, k));
const TIMELINE_ROWS = 400;
let timelineFilter = '';
let timelineSeq = 0;

function timelineRow(e: TimelineEvent): HTMLElement {
  const tr = document.createElement('tr');
  tr.dataset.kind = e.kind;
  tr.dataset.container = e.container ?? '';
  const cells = [
    new Date(e.at).toISOString().slice(11, 23), e.kind, e.container ?? '',
    e.from && e.to ? `${e.from} → ${e.to}` : e.to ?? e.from ?? '', e.type, e.detail,
  ];
  for (const text of cells) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); }
  return tr;
}

/** Newest first. New events are added at the top; a change of filter redraws it. */
function renderTimeline(): void {
  const c = ui.fContainer.value;
  const k = ui.fKind.value;
  const t = ui.fType.value.trim().toLowerCase();
  const filter = `${c}|${k}|${t}`;
  const matches = (e: TimelineEvent) => (!c || e.container === c) && (!k || e.kind === k) && (!t || e.type.toLowerCase().includes(t));
  const redraw = filter !== timelineFilter;
  const fresh: TimelineEvent[] = [];
  for (let i = model.timeline.length - 1; i >= 0 && fresh.length < TIMELINE_ROWS; i--) {
    const e = model.timeline[i];
    if (!redraw && e.seq <= timelineSeq) break;
    if (matches(e)) fresh.push(e);
  }
  timelineSeq = model.timeline.at(-1)?.seq ?? 0;
  timelineFilter = filter;
  if (redraw) ui.timeline.replaceChildren(...fresh.map(timelineRow));
  else if (fresh.length) {
    ui.timeline.prepend(...fresh.map(timelineRow));
    while (ui.timeline.childElementCount > TIMELINE_ROWS) ui.timeline.lastElementChild!.remove();
  } else return;
  const shown = `${ui.timeline.childElementCount} shown of ${model.timeline.length}`;
  if (ui.shown.textContent !== shown) ui.shown.textContent = shown;
}

// ---------------------------------------------------------------- controls

ui.search.oninput = () => schedule();
for (const f of [ui.fContainer, ui.fKind]) f.onchange = () => schedule();
ui.fType.oninput = () => schedule();
ui.scrub.oninput = () => {
  const i = Number(ui.scrub.value);
  travel = i >= Number(ui.scrub.max) ? null : i;
  schedule();
};
ui.live.onclick = () => { travel = null; schedule(); };
document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
  if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
    const max = Number(ui.scrub.max);
    const now = travel ?? max;
    const next = Math.max(0, Math.min(max, now + (e.key === 'ArrowLeft' ? -1 : 1)));
    travel = next >= max ? null : next;
    ui.scrub.value = String(next);
    schedule();
    e.preventDefault();
  }
});

connect();
