// Effects invoked by a machine's in-between states, as actor logic provided by key: provided
// once per daemon (`provide` copies a whole machine: too dear per actor), each invoked effect
// finds the actor that owns it through the actor system it runs in. The machine records each
// operation's answer as an outcome in its context (`seq`, `outcome`); `outcomeAfter` waits for it.
import { fromPromise, type ActorSystem, type AnyActor, type AnyStateMachine } from 'xstate';
import { RunaError } from '../errors.js';
import type { Outcome } from '../machines/outcome.js';

/** Whoever runs a machine's effects. */
export interface EffectOwner { perform(key: string, input: unknown): Promise<unknown> }

export function providedByOwner<M extends AnyStateMachine>(machine: M, keys: readonly string[]) {
  const owners = new WeakMap<ActorSystem<any>, EffectOwner>();
  const provided = machine.provide({
    actors: Object.fromEntries(keys.map((key) => [key, fromPromise(async ({ input, system }) => {
      const owner = owners.get(system);
      if (!owner) throw new RunaError('not_running', 'container not running');
      return owner.perform(key, input);
    })])),
  } as never) as M;
  return {
    machine: provided,
    own(actor: AnyActor, owner: EffectOwner): void { owners.set(actor.system, owner); },
    disown(actor: AnyActor): void { owners.delete(actor.system); },
  };
}

type WithOutcome = { context: { seq: number; outcome: Outcome | null } };

/**
 * Wait for the outcome of the operation after `seq` (the one just sent) once the machine has
 * settled (`settled`), and give its value or throw its error (the effect's own error where the
 * owner kept it: `errors`, by operation).
 */
export function outcomeAfter<T>(actor: AnyActor, seq: number, settled: (s: WithOutcome) => boolean, errors: Map<number, unknown>): Promise<T> {
  return new Promise<Outcome>((resolve, reject) => {
    let sub: { unsubscribe(): void } | null = null;
    let answered = false;
    const check = (s: WithOutcome) => {
      const o = s.context.outcome;
      if (!answered && o && o.seq > seq && settled(s)) { answered = true; sub?.unsubscribe(); resolve(o); }
    };
    // An actor stopped before it answered (its container is going) answers nothing more.
    sub = actor.subscribe({ next: check as never, complete: () => { if (!answered) reject(new RunaError('not_running', 'container not running')); } });
    check(actor.getSnapshot() as WithOutcome);
  }).then((o) => {
    const kept = errors.get(o.seq);
    errors.delete(o.seq);
    if (o.ok) return o.value as T;
    throw kept ?? new RunaError(o.code, o.message);
  });
}

/** Run one effect for its owner: what is in flight is kept (`runa debug --stacks`), and its error, for the caller. */
export async function performKept(
  key: string, seq: number, fn: () => unknown,
  running: Map<number, { effect: string; ticket: number; since: number }>, errors: Map<number, unknown>,
): Promise<unknown> {
  running.set(seq, { effect: key, ticket: seq, since: performance.now() });
  try {
    return await fn();
  } catch (e) {
    errors.set(seq, e);
    throw e;
  } finally {
    running.delete(seq);
  }
}
