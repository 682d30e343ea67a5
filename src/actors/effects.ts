// Effects as actors spawned by key: a machine takes a request (with a ticket), spawns the
// actor its setup names for it, and the answer goes back to whoever asked by that ticket.
// The actor layer provides the real effects once per machine (`provide` copies a whole
// machine: too dear per container); each spawned effect finds its owner through its actor
// system. Tests swap the effects of one owner.
import { fromPromise, type ActorSystem, type AnyActor, type AnyStateMachine } from 'xstate';
import { RunaError } from '../errors.js';

type Pending = { resolve(v: unknown): void; reject(e: unknown): void; type: string; since: number };
/** An effect asked for and not yet answered (`runa debug --stacks`). */
export interface InFlight { effect: string; ticket: number; state: 'queued' | 'running'; ms: number }
export type Ticketed<R> = R & { ticket: number };

/** One owner's side: asks its machine, and runs the effects the machine spawns. */
export class TicketedEffects<R extends { type: string }> {
  private tickets = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly running = new Map<number, { type: string; since: number }>();
  private actor: AnyActor | null = null;

  constructor(private readonly effects: { [K in R['type']]: (req: Extract<R, { type: K }>) => unknown }) {}

  bind(actor: AnyActor): void { this.actor = actor; }

  /** Ask the machine for an effect; resolves with what the effect answered, or rejects with its error. */
  ask<T = unknown>(req: R): Promise<T> {
    const actor = this.actor;
    if (!actor || actor.getSnapshot().status !== 'active') return Promise.reject(new RunaError('not_running', 'container not running'));
    const ticket = ++this.tickets;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(ticket, { resolve: resolve as (v: unknown) => void, reject, type: req.type, since: performance.now() });
      actor.send({ ...req, ticket });
    });
  }

  /** Run the effect the machine spawned, and answer the ticket. Its error goes to the one who asked, not to the machine. */
  async perform(req: Ticketed<R>): Promise<void> {
    const p = this.pending.get(req.ticket);
    this.pending.delete(req.ticket);
    this.running.set(req.ticket, { type: req.type, since: p?.since ?? performance.now() });
    try {
      const fn = this.effects[req.type as R['type']] as (r: R) => unknown;
      p?.resolve(await fn(req));
    } catch (e) {
      p?.reject(e);
    } finally {
      this.running.delete(req.ticket);
    }
  }

  /** What was asked for and has not been answered yet, oldest first, with how long ago. */
  inFlight(now = performance.now()): InFlight[] {
    const out: InFlight[] = [];
    for (const [ticket, p] of this.pending) out.push({ effect: p.type, ticket, state: 'queued', ms: Math.round(now - p.since) });
    for (const [ticket, r] of this.running) out.push({ effect: r.type, ticket, state: 'running', ms: Math.round(now - r.since) });
    return out.sort((a, b) => a.ticket - b.ticket);
  }

  /** The owner goes: nobody waits for an answer that will not come. */
  rejectAll(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

/**
 * The machine with every key's effect provided once: a spawned effect looks up the effects of
 * the actor system it runs in (registered by `register`).
 */
export function providedOnce<M extends AnyStateMachine>(machine: M, keys: string[]) {
  const owners = new WeakMap<ActorSystem<any>, TicketedEffects<any>>();
  let provided: M | null = null;
  return {
    machine(): M {
      const effect = fromPromise<unknown, Ticketed<{ type: string }>>(async ({ input, system }) => owners.get(system)?.perform(input));
      provided ??= machine.provide({ actors: Object.fromEntries(keys.map((k) => [k, effect])) } as never) as M;
      return provided;
    },
    register(actor: AnyActor, effects: TicketedEffects<any>): void {
      owners.set(actor.system, effects);
      effects.bind(actor);
    },
  };
}
