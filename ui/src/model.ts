// The page's picture of the daemon, kept from the bulk snapshot and the live frames. Pure:
// no DOM, so that node:test checks it too (test/ui-model.test.ts).
import type { ActorInfo, Frame, HistoryEntry, ServerMessage } from '../../src/ui/protocol.js';

export interface Transition { source: string; targets: string[]; eventType: string; at: number }

export interface Actor extends ActorInfo {
  /** when it stopped (stopped actors stay a while, greyed) */
  endedAt: number | null;
  last: Transition | null;
}

export type EventKind = 'request' | 'message' | 'event' | 'transition' | 'action' | 'actor';

export interface TimelineEvent {
  seq: number;
  at: number;
  kind: EventKind;
  /** the container it concerns (a sandbox's: its root), or null */
  container: string | null;
  type: string;
  from: string | null;
  to: string | null;
  detail: string;
}

/** How many events the page keeps (the daemon's per-container ring holds the rest). */
export const TIMELINE_MAX = 5000;
/** How long an actor that ended stays in the tree. */
export const ENDED_KEEP_MS = 15_000;

/** `container:ID`, `process:ID/init`, `gofer:ID`, `effects:ID`, `sandbox:ID` → ID */
export function containerOf(address: string | null): string | null {
  if (!address) return null;
  const i = address.indexOf(':');
  if (i < 0) return null;
  return address.slice(i + 1).split('/')[0] || null;
}

/** A state value as one line: `running`, or `monitor.linked` for a nested one. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).map(([k, v]) => {
      const inner = stateName(v);
      return inner ? `${k}.${inner}` : k;
    }).join(', ');
  }
  return value === undefined || value === null ? '' : String(value);
}

const collator = new Intl.Collator(undefined, { numeric: true });
const at = (f: Frame) => Number(f.createdAt ?? Date.now()) || Date.now();

export class Model {
  readonly actors = new Map<string, Actor>();
  readonly definitions = new Map<string, unknown>();
  readonly timeline: TimelineEvent[] = [];
  /** a container's recorded history, as last fetched */
  readonly histories = new Map<string, HistoryEntry[]>();
  private readonly bySession = new Map<string, string>();
  /** Stately's actor frames come before runa's, which say where the actor sits. */
  private readonly pending = new Map<string, { value: unknown; context: unknown; status: string }>();
  private seq = 0;
  daemonUp = true;
  /** bumped on every change */
  version = 0;
  /** bumped when actors come, go or move: the tree's shape changes */
  membership = 0;
  /** actors whose state, context or end changed since the view last took them */
  readonly dirty = new Set<string>();

  /** Apply one message; returns the containers it changed (for history refetches). */
  apply(msg: ServerMessage): Set<string> {
    const touched = new Set<string>();
    this.version++;
    switch (msg.kind) {
      case 'snapshot':
        this.snapshot(msg.actors, msg.definitions);
        for (const a of msg.actors) { const c = containerOf(a.address); if (c) touched.add(c); }
        break;
      case 'frames':
        for (const f of msg.frames) { const c = this.frame(f); if (c) touched.add(c); }
        break;
      case 'history':
        this.histories.set(msg.id, msg.events);
        break;
      case 'daemon':
        this.daemonUp = msg.up;
        break;
      case 'error':
        break;
    }
    return touched;
  }

  snapshot(actors: ActorInfo[], definitions: Record<string, unknown>): void {
    for (const [id, d] of Object.entries(definitions)) this.definitions.set(id, d);
    this.actors.clear();
    this.bySession.clear();
    for (const a of actors) {
      this.actors.set(a.address, { ...a, endedAt: null, last: null });
      this.bySession.set(a.sessionId, a.address);
    }
    this.membership++;
    this.daemonUp = true;
  }

  private addressOf(sessionId: unknown): string | null {
    return typeof sessionId === 'string' ? this.bySession.get(sessionId) ?? null : null;
  }

  private push(e: Omit<TimelineEvent, 'seq'>): void {
    this.timeline.push({ seq: ++this.seq, ...e });
    if (this.timeline.length > TIMELINE_MAX) this.timeline.splice(0, this.timeline.length - TIMELINE_MAX);
  }

  /** One frame of the inspect topic; returns the container it concerns. */
  frame(f: Frame): string | null {
    const when = at(f);
    switch (f.type) {
      case '@xstate.actor': {
        const s = (f.snapshot ?? {}) as { value?: unknown; context?: unknown; status?: string };
        const address = this.addressOf(f.sessionId);
        if (address) {
          const a = this.actors.get(address)!;
          Object.assign(a, { value: s.value ?? a.value, context: s.context ?? a.context, status: s.status ?? a.status });
          this.dirty.add(address);
          return containerOf(address);
        }
        if (f.sessionId) this.pending.set(f.sessionId, { value: s.value, context: s.context, status: s.status ?? 'active' });
        return null;
      }
      case '@runa.actor': {
        const address = String(f.address);
        const sessionId = String(f.sessionId);
        const s = this.pending.get(sessionId);
        this.pending.delete(sessionId);
        const old = this.actors.get(address);
        if (old && old.sessionId !== sessionId) this.bySession.delete(old.sessionId);
        this.bySession.set(sessionId, address);
        this.actors.set(address, {
          address, parent: (f.parent as string | null) ?? null, sessionId, machine: String(f.machine ?? 'unknown'),
          value: s?.value ?? old?.value ?? null, context: s?.context ?? old?.context ?? null, status: s?.status ?? 'active',
          endedAt: null, last: old?.sessionId === sessionId ? old.last : null,
        });
        if (!old || old.parent !== f.parent || old.endedAt !== null) this.membership++;
        this.dirty.add(address);
        if (!old || old.sessionId !== sessionId) this.push({ at: when, kind: 'actor', container: containerOf(address), type: 'actor.started', from: f.parent as string | null, to: address, detail: String(f.machine ?? '') });
        return containerOf(address);
      }
      case '@runa.gone': {
        const address = String(f.address);
        const a = this.actors.get(address);
        if (a && a.sessionId === f.sessionId) {
          a.endedAt = when;
          a.status = 'stopped';
          this.dirty.add(address);
          this.push({ at: when, kind: 'actor', container: containerOf(address), type: 'actor.stopped', from: null, to: address, detail: stateName(a.value) });
        }
        return containerOf(address);
      }
      case '@xstate.snapshot': {
        const address = this.addressOf(f.sessionId);
        if (!address) return null;
        const a = this.actors.get(address)!;
        const s = (f.snapshot ?? {}) as { value?: unknown; context?: unknown; status?: string };
        const before = stateName(a.value);
        a.value = s.value ?? a.value;
        a.context = s.context ?? a.context;
        a.status = s.status ?? a.status;
        const after = stateName(a.value);
        this.dirty.add(address);
        if (before !== after) {
          const ev = (f.event ?? {}) as { type?: string };
          this.push({ at: when, kind: 'transition', container: containerOf(address), type: ev.type ?? '', from: before, to: after, detail: address });
        }
        return containerOf(address);
      }
      case '@xstate.event': {
        const to = this.addressOf(f.sessionId);
        if (!to) return null;
        const from = this.addressOf(f.sourceId);
        const ev = (f.event ?? {}) as { type?: string };
        const type = ev.type ?? '';
        // A message on the actors' bus has a sender; an event without one is the actor's own.
        this.push({ at: when, kind: from ? 'message' : 'event', container: containerOf(to), type, from, to, detail: detailOf(ev) });
        return containerOf(to);
      }
      case '@xstate.microstep': {
        const address = this.addressOf(f.sessionId);
        if (!address) return null;
        const ts = (f.transitions ?? []) as Array<{ eventType?: string; source?: string; targets?: string[] }>;
        const t = ts.find((x) => x.source && x.targets && x.targets.length) ?? ts[0];
        if (t?.source) { this.actors.get(address)!.last = { source: t.source, targets: t.targets ?? [], eventType: t.eventType ?? '', at: when }; this.dirty.add(address); }
        return containerOf(address);
      }
      case '@xstate.action': {
        const address = this.addressOf(f.sessionId);
        if (!address) return null;
        const action = (f.action ?? {}) as { type?: string };
        if (!action.type || action.type.startsWith('xstate.')) return null;
        this.push({ at: when, kind: 'action', container: containerOf(address), type: action.type, from: null, to: address, detail: '' });
        return containerOf(address);
      }
      case '@runa.message': {
        // What became of a message between actors: an answer that went wrong shows (a failed
        // reply or tell, a timeout, a late reply, a dead letter); a good answer adds nothing to
        // the message already shown.
        if (f.ok) return null;
        const to = String(f.to ?? '');
        this.push({ at: when, kind: 'message', container: containerOf(to), type: `${String(f.message)} ${String(f.kind)}`, from: (f.from as string | null) ?? null, to, detail: String(f.error ?? '') });
        return containerOf(to);
      }
      case '@runa.request': {
        const id = (f.id as string | null) ?? null;
        const ms = Number(f.ms ?? 0);
        this.push({ at: when - ms, kind: 'request', container: id, type: String(f.request), from: 'client', to: 'daemon', detail: f.ok ? `ok, ${ms} ms` : `error: ${String(f.error)}` });
        return id;
      }
      default:
        return null;
    }
  }

  /** Actors that ended long enough ago leave the tree. */
  sweep(now = Date.now()): boolean {
    let changed = false;
    for (const [address, a] of this.actors) {
      if (a.endedAt !== null && now - a.endedAt > ENDED_KEEP_MS) { this.actors.delete(address); this.bySession.delete(a.sessionId); changed = true; }
    }
    if (changed) { this.version++; this.membership++; }
    return changed;
  }

  /** The tree: roots (sandboxes, and actors whose parent is gone) with their children, in order. */
  tree(): Array<{ actor: Actor; depth: number }> {
    const children = new Map<string | null, Actor[]>();
    for (const a of this.actors.values()) {
      const p = a.parent && this.actors.has(a.parent) ? a.parent : null;
      let list = children.get(p);
      if (!list) children.set(p, (list = []));
      list.push(a);
    }
    const rank = (a: Actor) => ['sandbox', 'container', 'gofer', 'effects', 'process'].indexOf(a.address.split(':')[0]);
    const order = (x: Actor, y: Actor) => rank(x) - rank(y) || collator.compare(x.address, y.address);
    const out: Array<{ actor: Actor; depth: number }> = [];
    const walk = (parent: string | null, depth: number) => {
      for (const a of (children.get(parent) ?? []).sort(order)) {
        out.push({ actor: a, depth });
        walk(a.address, depth + 1);
      }
    };
    walk(null, 0);
    return out;
  }

  /**
   * Time travel: an actor as it was right after history entry `index` of its container:
   * its state value and context, and the transition that brought it there if that entry was one.
   * Before its first recorded transition, it was in that transition's source state.
   */
  asOf(container: string, address: string, index: number): { value: unknown; context: unknown; step: HistoryEntry | null; known: boolean } {
    const h = this.histories.get(container) ?? [];
    for (let i = Math.min(index, h.length - 1); i >= 0; i--) {
      const e = h[i];
      if (e.kind === 'transition' && e.actor === address) return { value: e.value ?? e.to, context: e.context ?? null, step: i === index ? e : null, known: true };
    }
    const next = h.find((e) => e.kind === 'transition' && e.actor === address);
    if (next) return { value: next.from, context: null, step: null, known: true };
    const a = this.actors.get(address);
    return { value: a?.value ?? null, context: a?.context ?? null, step: null, known: false };
  }
}

function detailOf(ev: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(ev)) {
    if (k === 'type' || k === 'from' || k === 'to' || v === undefined) continue;
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    parts.push(`${k}=${s.length > 60 ? s.slice(0, 57) + '…' : s}`);
  }
  return parts.join(' ');
}
