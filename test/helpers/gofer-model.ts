// The gofer machine as the model-based tests walk it (test/gofer-model.test.ts): each step is
// one event settled by its effect's answer (`fail`: the effect fails), built on the machine
// itself (src/machines/gofer.ts), so that xstate/graph traverses it.
import { getInitialSnapshot, getNextSnapshot, transition, type ActorLogic, type EventObject } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths, getSimplePaths } from 'xstate/graph';
import { goferBusy, goferMachine, type GoferEvent, type GoferSnapshot } from '../../src/machines/index.js';

/** A step: an event, with `fail` when the effect it invokes (validate, prepare) fails. */
export type GoferModelEvent = GoferEvent & { fail?: true };

export function goferStep(snapshot: GoferSnapshot, event: GoferModelEvent): GoferSnapshot {
  const { fail, ...e } = event;
  let s = getNextSnapshot(goferMachine, snapshot, e as GoferEvent);
  for (let i = 0; i < 4 && goferBusy(s); i++) {
    const child = Object.keys(s.children)[0];
    if (!child) break;
    // Undo is never failed here: its failure would only be said.
    const fails = fail && !s.matches('undoing');
    s = getNextSnapshot(goferMachine, s, (fails
      ? { type: `xstate.error.actor.${child}`, error: new Error(`${child} failed`) }
      : { type: `xstate.done.actor.${child}`, output: undefined }) as never);
  }
  return s;
}

/** The machine with every event settled: what the graph traverses. */
export const settledGofer = {
  transition: (snapshot: GoferSnapshot, event: GoferModelEvent) => (snapshot.status === 'active' ? goferStep(snapshot, event) : snapshot),
  getInitialSnapshot: (_scope: unknown, input: { id: string }) => getInitialSnapshot(goferMachine, input),
  getPersistedSnapshot: (s: GoferSnapshot) => s,
} as unknown as ActorLogic<GoferSnapshot, GoferModelEvent & EventObject, { id: string }>;

/** A state as the graph tells states apart: where it is, whether its bundle is validated, whether it failed. */
export function goferKey(s: GoferSnapshot): string {
  return JSON.stringify({ value: s.value, validated: s.context.validated, failed: s.context.error !== null });
}

/** How the machine answers a file operation where it is (what it emits): refused (null), served now, or held. */
export function fileAnswer(s: GoferSnapshot, op: 'read' | 'write' | 'stat'): 'now' | 'held' | null {
  const event = { type: 'gofer.file', op } as const;
  if (s.status !== 'active' || !s.can(event)) return null;
  const [, actions] = transition(goferMachine, s, event);
  const emitted = (actions as Array<{ type: string; params?: unknown }>).find((a) => a.type === 'xstate.emit')?.params as { event: { held: boolean } } | undefined;
  return emitted ? (emitted.event.held ? 'held' : 'now') : null;
}

/**
 * The paths the tests replay: every simple path, and for every transition the machine takes (a
 * loop back to a state already seen included: prepare, a thaw, a stop while frozen), the shortest
 * path to its state followed by it. Each is the list of its events.
 */
export function goferPaths(events: GoferModelEvent[]): GoferModelEvent[][] {
  const opts = { input: { id: 'model' }, events, serializeState: goferKey };
  const of = (p: { steps: Array<{ event: unknown }> }) => p.steps.map((st) => st.event as GoferModelEvent).filter((e) => (e.type as string) !== 'xstate.init');
  const shortest = new Map(getShortestPaths(settledGofer, opts).map((p) => [goferKey(p.state), of(p)]));
  const out = getSimplePaths(settledGofer, opts).map(of);
  for (const { state, event } of adjacencyMapToArray(getAdjacencyMap(settledGofer, opts))) {
    const { fail: _f, ...plain } = event;
    if (state.status !== 'active' || !state.can(plain as GoferEvent)) continue; // refused: no transition
    out.push([...shortest.get(goferKey(state))!, event]);
  }
  const seen = new Set<string>();
  return out.filter((p) => { const k = JSON.stringify(p); return !seen.has(k) && seen.add(k); });
}
