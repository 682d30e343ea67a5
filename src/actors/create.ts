// A container's create as an actor of its own (src/machines/create.ts), at `create:<id>` on the
// actors' bus: the daemon's router sends it `create.run` and its reply is the create's answer.
// Its machine takes the steps (claim, validate, cgroups and RDT, plan, the Container actor and
// its record), each an effect provided by key (src/actors/create-effects.ts), and on a failure undoes
// exactly the steps done. Until it is done, the inspector and `runa debug --stacks` show it
// with its mailbox; then the Container actor takes over, with the history the create began.
import { createActor, toPromise, type Actor } from 'xstate';
import { CREATE_EFFECT_KEYS, creationMachine, createState, STEP_STATE, type CreateEffectKey, type CreateStep } from '../machines/create.js';
import { performKept, providedByOwner, type EffectOwner } from './invoked.js';
import { createEffects, type CreateEffects, type CreateHost } from './create-effects.js';
import { History } from './history.js';
import { containerAddress } from './sandbox-actor.js';
import { RunaError } from '../errors.js';
import { goferAddress, type GoferActor } from './gofer-actor.js';
import type { Mailbox } from './actor-bus.js';
import type { CreateReply } from './actor-messages.js';
import type { CreateRequest } from '../bus/messages.js';
import type { RegistryHost } from './registry-host.js';
import type { z } from 'zod';

export type { CreateEffects } from './create-effects.js';

export const createAddress = (id: string) => `create:${id}`;

/**
 * The event behind a step of the create's machine, from the states it leaves and enters (its
 * machine has one way between two states; an inspector on every create would cost more than
 * the create's own steps): the run, a step's answer, or its error.
 */
function causeOf(from: string, to: string, failedStep: CreateStep | null): string {
  if (from === 'idle') return 'create.run';
  if (to === 'undoing') return `xstate.error.actor.${failedStep}`;
  if (from === 'undoing') return 'xstate.done.actor.undo';
  return `xstate.done.actor.${STEP_OF[from] ?? from}`;
}
const STEP_OF = Object.fromEntries(Object.entries(STEP_STATE).map(([step, state]) => [state, step])) as Record<string, CreateStep>;

/** The create machine with runa's effects provided once per daemon (src/actors/invoked.ts). */
const provided = providedByOwner(creationMachine, CREATE_EFFECT_KEYS);

export interface CreateActorOptions {
  /** replace some of the create's effects (tests) */
  effects?: Partial<CreateEffects>;
}

export class CreateActor implements EffectOwner, CreateHost {
  readonly actor: Actor<typeof creationMachine>;
  /** What happened to the container's actors: the create's steps first (the Container actor goes on with it). */
  readonly history = new History();
  gofer: GoferActor | null = null;
  private readonly mailbox: Mailbox;
  private effects: CreateEffects | null = null;
  /** effects in flight, for `runa debug --stacks`; the errors they threw, by step */
  private readonly running = new Map<number, { effect: string; ticket: number; since: number }>();
  private readonly errors = new Map<number, unknown>();

  constructor(readonly id: string, private readonly r: RegistryHost, private readonly opts: CreateActorOptions = {}) {
    this.actor = createActor(provided.machine, { input: { id } });
    provided.own(this.actor, this);
    let last = createState(this.actor.getSnapshot());
    this.actor.subscribe((s) => {
      const now = createState(s);
      if (now !== last) this.history.push({ actor: this.address, kind: 'transition', type: causeOf(last, now, s.context.failedStep), from: last, to: now, value: s.value, context: s.context });
      last = now;
    });
    this.actor.start();
    r.watch(this.actor, this.address, containerAddress(id));
    this.mailbox = r.actors.register(this.address, { 'create.run': (m) => this.run(m.request) });
  }

  get address(): string { return createAddress(this.id); }

  /** Run one step's effect (the machine invoked it by key). */
  perform(key: string, input: unknown): Promise<unknown> {
    const effects = this.effects;
    if (!effects) return Promise.reject(new RunaError('invalid_state', `create ${JSON.stringify(this.id)}: not run`));
    const fn = effects[key as CreateEffectKey] as (i: unknown) => unknown;
    return performKept(key, CREATE_EFFECT_KEYS.indexOf(key as CreateEffectKey), () => fn(input), this.running, this.errors);
  }

  /** The create, from its first step to done (its reply), or failed (its step's error, as it was, once what was done is undone). */
  private async run(req: CreateRequest): Promise<z.infer<typeof CreateReply>> {
    this.effects = { ...createEffects(this, this.r, req), ...this.opts.effects };
    this.actor.send({ type: 'create.run' });
    const outcome = await toPromise(this.actor);
    const step = this.actor.getSnapshot().context.failedStep;
    this.finish();
    if (outcome?.ok) return outcome.value as z.infer<typeof CreateReply>;
    const kept = step ? this.errors.get(CREATE_EFFECT_KEYS.indexOf(step)) : undefined;
    throw kept ?? new RunaError(outcome?.code ?? 'create_failed', outcome?.message ?? `create of ${JSON.stringify(this.id)} failed`);
  }

  /** Its part is over (or it was never run): its address goes (the Container actor, if any, has its own). */
  finish(): void {
    if (this.mailbox.closed) return;
    this.mailbox.close();
    queueMicrotask(() => provided.disown(this.actor));
    if (this.r.creating.get(this.id) === this) this.r.creating.delete(this.id);
  }

  /** `runa debug`: the create's machine, and its gofer's once it has one. */
  debugInfo() {
    const s = this.actor.getSnapshot();
    const g = this.gofer?.actor.getSnapshot();
    return {
      create: { address: this.address, value: createState(s), context: { done: s.context.done, failedStep: s.context.failedStep } },
      gofer: g ? { address: goferAddress(this.id), value: String(g.value), context: { error: g.context.error, validated: g.context.validated } } : null,
      status: 'creating' as const,
    };
  }

  /** `runa debug --stacks`: its effect in flight, and its machine's invoked child. */
  activity() {
    const now = performance.now();
    const effects = [...this.running.values()].map((r) => ({ actor: this.address, effect: r.effect, ticket: r.ticket, state: 'running' as const, ms: Math.round(now - r.since) }));
    const children = Object.values(this.actor.getSnapshot().children ?? {})
      .filter((child) => child && child.getSnapshot().status === 'active')
      .map((child) => ({ actor: this.address, src: String((child as { src?: unknown }).src ?? child!.id), sessionId: child!.sessionId }));
    return { effects, children };
  }
}
