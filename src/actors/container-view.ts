// What `runa debug` shows of a container's actors: their states and contexts, its monitor, and
// (--stacks) what they are doing now.
import type { AnyActor } from 'xstate';
import { containerState, type ContainerSnapshot, type ContainerStatus } from '../machines/index.js';
import type { ProcessActor } from './process-actor.js';
import type { GoferActor } from './gofer-actor.js';
import { goferAddress } from './gofer-actor.js';
import type { MonitorFacts } from './container-effects.js';

export interface ContainerView {
  address: string;
  id: string;
  status: ContainerStatus;
  container: AnyActor;
  monitor: MonitorFacts;
  supervised: boolean;
  init: ProcessActor;
  gofer: GoferActor;
  execs: ProcessActor[];
  /** the effects invoked and not answered, by operation */
  running: Array<{ effect: string; ticket: number; since: number }>;
}

/** The context as `runa debug` shows it: what the container keeps, not the bookkeeping of its operations. */
function shown(s: ContainerSnapshot) {
  const { id, exitStatus, pendingSignals } = s.context;
  return { id, exitStatus, pendingSignals };
}

/** A companion machine's state as one name: a process's life (its monitor region is its dealings, not its state). */
export function valueName(value: unknown): string {
  if (value && typeof value === 'object' && 'life' in value) return String((value as { life: unknown }).life);
  return String(value);
}

/** A companion's context without the bookkeeping of its requests. */
function bare(context: unknown): unknown {
  if (!context || typeof context !== 'object') return context;
  const { seq: _s, outcome: _o, ...rest } = context as Record<string, unknown>;
  return rest;
}

export function debugInfo(v: ContainerView) {
  const machine = (address: string, a: AnyActor) => { const s = a.getSnapshot(); return { address, value: valueName(s.value), context: bare(s.context) }; };
  const m = v.monitor;
  const snap = v.container.getSnapshot() as ContainerSnapshot;
  return {
    container: { address: v.address, value: containerState(snap), context: shown(snap), monitorPid: m.monitorPid, initPid: m.initPid, linked: m.linked, supervised: v.supervised },
    processes: [v.init, ...v.execs].map((p) => machine(p.address, p.actor)),
    gofer: machine(goferAddress(v.id), v.gofer.actor),
    status: v.status,
  };
}

/**
 * `runa debug --stacks`: effects invoked and not answered (by operation, with their age),
 * monitor requests in flight, and every child actor still active.
 */
export function activity(v: ContainerView) {
  const now = performance.now();
  const effects = v.running.map((r) => ({ actor: v.address, effect: r.effect, ticket: r.ticket, state: 'running' as const, ms: Math.round(now - r.since) }));
  const processes = [v.init, ...v.execs];
  for (const p of processes) for (const f of p.inFlight()) effects.push({ actor: p.address, ...f } as never);
  const children: Array<{ actor: string; src: string; sessionId: string }> = [];
  const actors: Array<[string, AnyActor]> = [[v.address, v.container], [goferAddress(v.id), v.gofer.actor], ...processes.map((p): [string, AnyActor] => [p.address, p.actor])];
  for (const [address, actor] of actors) {
    const kids = (actor.getSnapshot() as { children?: Record<string, AnyActor | undefined> }).children ?? {};
    for (const child of Object.values(kids)) {
      if (child && child.getSnapshot().status === 'active') children.push({ actor: address, src: String((child as { src?: unknown }).src ?? child.id), sessionId: child.sessionId });
    }
  }
  return { effects, children };
}
