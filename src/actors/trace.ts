// `runa debug --trace FILE [--duration D]`: a container's actors as a Chrome trace (the
// trace-event JSON Perfetto's and chrome://tracing's importers read). runsc's --trace takes a Go
// execution trace of its sandbox for the duration; runa's sandbox is its actors, so its trace is
// what they did: each actor a thread of one process (the container), each state it stayed in a
// complete event ('X', with its duration: the in-between states are the effects running), each
// transition and each message it received an instant event ('i'). Without --duration, what the
// container's history holds now (its last 256 entries); with it, everything recorded live from
// now on, for that long or until the container is deleted.
import { OutputFile } from '../output-file.js';
import type { History, HistoryEntry } from './history.js';

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'i' | 'M';
  /** µs */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  /** an instant's scope: its thread */
  s?: 't';
  args?: Record<string, unknown>;
}

export interface Trace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, unknown>;
}

/** The daemon's monotonic clock, in µs since the epoch (as History's entries carry it). */
export const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

const PID = 1;
/** Threads in the order a reader looks for them: the sandbox, the container, its gofer, its processes. */
const KIND_ORDER = ['sandbox', 'container', 'gofer', 'process'];
const entryUs = (e: HistoryEntry): number => e.us ?? e.at * 1000;

/**
 * The trace of a container's history entries over [start, end] (µs). `states`: each actor's
 * state where the entries do not say it (an actor with no transition in them): at the start of a
 * live recording, or now for the history. `atStart`: the actors there at the start of a live
 * recording (null for the history): an actor not there, or first met in the history by a
 * message, is drawn from its first entry on, not from the start.
 */
export function traceOf(id: string, entries: HistoryEntry[], window: { start: number; end: number }, states: Map<string, string>, atStart: Set<string> | null): TraceEvent[] {
  const actors = new Set<string>(states.keys());
  for (const e of entries) actors.add(e.actor);
  const kind = (a: string) => { const k = KIND_ORDER.indexOf(a.slice(0, a.indexOf(':'))); return k < 0 ? KIND_ORDER.length : k; };
  const first = [...actors];
  const ordered = [...actors].sort((a, b) => kind(a) - kind(b) || first.indexOf(a) - first.indexOf(b));
  const tid = new Map(ordered.map((a, i) => [a, i + 1]));
  const clamp = (us: number) => Math.min(Math.max(us, window.start), window.end);

  const events: TraceEvent[] = [{ name: 'process_name', ph: 'M', ts: window.start, pid: PID, tid: 0, args: { name: `runa container ${id}` } }];
  for (const a of ordered) {
    events.push(
      { name: 'thread_name', ph: 'M', ts: window.start, pid: PID, tid: tid.get(a)!, args: { name: a } },
      { name: 'thread_sort_index', ph: 'M', ts: window.start, pid: PID, tid: tid.get(a)!, args: { sort_index: tid.get(a)! } },
    );
  }
  // Each actor's state from where it was entered (or the start) to where it was left (or the end).
  const open = new Map<string, { state: string; since: number; by: string | null }>();
  const close = (a: string, until: number, left: string | null) => {
    const o = open.get(a);
    if (!o) return;
    events.push({
      name: o.state, cat: 'state', ph: 'X', ts: o.since, dur: Math.max(0, until - o.since), pid: PID, tid: tid.get(a)!,
      args: { actor: a, entered: o.by ?? '(before the trace)', left: left ?? '(after the trace)' },
    });
  };
  for (const a of ordered) {
    const mine = entries.filter((e) => e.actor === a);
    const firstStep = mine.find((e) => e.kind === 'transition');
    const state = firstStep?.from ?? states.get(a);
    if (state === undefined) continue;
    const there = atStart ? atStart.has(a) : !mine.length || mine[0].kind === 'transition';
    open.set(a, { state, since: there ? window.start : clamp(entryUs(mine[0])), by: there ? null : '(first seen)' });
  }
  for (const e of entries) {
    const ts = clamp(entryUs(e));
    const t = tid.get(e.actor)!;
    if (e.kind === 'transition') {
      close(e.actor, ts, e.type);
      open.set(e.actor, { state: e.to ?? '?', since: ts, by: e.type });
      events.push({ name: `${e.from} → ${e.to}`, cat: 'transition', ph: 'i', s: 't', ts, pid: PID, tid: t, args: { actor: e.actor, event: e.type, from: e.from, to: e.to } });
    } else {
      events.push({ name: e.type, cat: 'message', ph: 'i', s: 't', ts, pid: PID, tid: t, args: { from: e.from, to: e.to } });
    }
  }
  for (const a of ordered) close(a, window.end, null);
  // Ordered by time (metadata first): every thread's timestamps then never go back.
  const rank = (ev: TraceEvent) => (ev.ph === 'M' ? 0 : ev.ph === 'X' ? 1 : 2);
  return events.map((ev, i) => ({ ev, i })).sort((x, y) => x.ev.ts - y.ev.ts || rank(x.ev) - rank(y.ev) || x.i - y.i).map(({ ev }) => ev);
}

/** At most this many entries are recorded live: past it the recording stops (and says so). */
export const LIVE_MAX = 200_000;

/**
 * Record a container's history for `ms` from now, or until it is deleted (its container actor
 * reaches `deleted`). Resolves with the entries and the window.
 */
export function recordLive(history: History, containerAddress: string, ms: number): Promise<{ entries: HistoryEntry[]; start: number; end: number; truncated: boolean; ended: 'duration' | 'deleted' | 'limit' }> {
  const start = nowUs();
  const entries: HistoryEntry[] = [];
  return new Promise((resolve) => {
    let stop: () => void = () => undefined;
    const finish = (ended: 'duration' | 'deleted' | 'limit') => {
      clearTimeout(timer);
      stop();
      resolve({ entries, start, end: nowUs(), truncated: ended === 'limit', ended });
    };
    const timer = setTimeout(() => finish('duration'), ms);
    stop = history.watch((e) => {
      entries.push(e);
      if (e.actor === containerAddress && e.kind === 'transition' && e.to === 'deleted') finish('deleted');
      else if (entries.length >= LIVE_MAX) finish('limit');
    });
  });
}

/** Write the trace to `out` and close it, one event a line (a JSON document all the same). Answers its size. */
export function writeTrace(out: OutputFile, trace: Trace): number {
  const { traceEvents, ...rest } = trace;
  const head = JSON.stringify(rest);
  const text = `{"traceEvents":[\n${traceEvents.map((e) => JSON.stringify(e)).join(',\n')}\n],${head.slice(1)}\n`;
  try {
    out.write(text);
  } finally {
    out.close();
  }
  return out.bytes;
}

/**
 * `container.trace`: write the trace of a container to `file` (the daemon writes it, as it
 * writes its profiles): what its history holds (ms = 0), or what happens for `ms` from now.
 * `states`: where each of its actors stands now.
 */
export async function takeTrace(c: { id: string; address: string; history: History; states: () => Map<string, string> }, file: string, ms: number) {
  // Opened first, so that a path that cannot be written fails before anything is recorded.
  const out = OutputFile.open(file, 'trace');
  let entries: HistoryEntry[];
  let start: number;
  let end: number;
  let ended: 'history' | 'duration' | 'deleted' | 'limit' = 'history';
  const states = c.states();
  const atStart = ms > 0 ? new Set(states.keys()) : null;
  try {
    if (ms > 0) {
      ({ entries, start, end, ended } = await recordLive(c.history, c.address, ms));
    } else {
      entries = c.history.last();
      end = nowUs();
      start = entries.length ? Math.min(entryUs(entries[0]), end) : end;
    }
  } catch (e) {
    out.discard();
    throw e;
  }
  const traceEvents = traceOf(c.id, entries, { start, end }, states, atStart);
  const bytes = writeTrace(out, {
    traceEvents, displayTimeUnit: 'ms',
    otherData: {
      runa: 'debug --trace', container: c.id, recorded: ms > 0 ? 'live' : 'history',
      from: new Date(start / 1000).toISOString(), to: new Date(end / 1000).toISOString(), entries: entries.length,
      ...(ended === 'limit' ? { truncated: `stopped at ${LIVE_MAX} entries` } : {}), ...(ended === 'deleted' ? { ended: 'the container was deleted' } : {}),
    },
  });
  return { events: traceEvents.length, entries: entries.length, bytes, ended };
}
