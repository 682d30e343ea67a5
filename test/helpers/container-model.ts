// The container machine as the model-based tests walk it: each step is one operation (or fact)
// settled by its effects' answers, a failure of one named effect included. Built on the machine
// itself (src/machines/container.ts, `settle`): xstate/graph traverses this logic.
import { getInitialSnapshot, type ActorLogic, type EventObject } from 'xstate';
import { containerMachine, containerStatus, settle, type ContainerEffectKey, type ContainerEvent, type ContainerSnapshot } from '../../src/machines/index.js';

/**
 * A step: an operation, with `fail` naming the effect that fails (its error then is the answer).
 * A file operation (`container.file`) is a step too: the machine answers it (where it is served,
 * `fileRoot`) and nothing moves, so the graph sees it as a loop on every state that takes it.
 */
export type ModelEvent = ContainerEvent & { fail?: ContainerEffectKey };

/** The error a failing effect gives in the model. */
export const effectFailure = (key: ContainerEffectKey) => ({ code: 'effect_failed', message: `${key} failed` });

export function step(snapshot: ContainerSnapshot, event: ModelEvent): ContainerSnapshot {
  const { fail, ...e } = event;
  return settle(snapshot, e as ContainerEvent, fail ? { errors: { [fail]: effectFailure(fail) } } : {});
}

/** The machine with every operation settled: what the graph traverses. */
export const settledLogic = {
  transition: (snapshot: ContainerSnapshot, event: ModelEvent) => (snapshot.status === 'active' ? step(snapshot, event) : snapshot),
  getInitialSnapshot: (_scope: unknown, input: { id: string }) => getInitialSnapshot(containerMachine, input),
  getPersistedSnapshot: (s: ContainerSnapshot) => s,
} as unknown as ActorLogic<ContainerSnapshot, ModelEvent & EventObject, { id: string }>;

/** A state as the graph tells states apart: the status and what the context keeps (not the operation count). */
export function modelKey(s: ContainerSnapshot): string {
  const c = s.context;
  return JSON.stringify({
    status: containerStatus(s), value: s.value, exitStatus: c.exitStatus, programStarted: c.programStarted, followed: c.followed,
    // Repeated SIGTERMs to a paused container grow the queue without bound: the set keeps the graph finite.
    pending: [...new Set(c.pendingSignals)].sort((a, b) => a - b),
  });
}
