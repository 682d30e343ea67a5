// A sandbox (pod) as an actor on the actors' bus. It hears its members' lifecycles as
// `member.*` messages and orders them about (`order.stop|pause|resume`) as the root
// container goes: the effects its machine invokes, by key.
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import { sandboxMachine, sandboxSettling, sandboxStatus, type MembersOutcome, type SandboxEvent } from '../machines/sandbox.js';
import { invalidState } from '../machines/refusal.js';
import { RunaError } from '../errors.js';
import type { ActorBus, Mailbox } from './actor-bus.js';
import type { Watch } from './inspection.js';

export const sandboxAddress = (id: string) => `sandbox:${id}`;
export const containerAddress = (id: string) => `container:${id}`;

/** The effects on members, over the bus: every member is ordered at once, and all answers awaited. */
export function memberEffects(bus: ActorBus) {
  const order = (type: 'order.stop' | 'order.pause' | 'order.resume') =>
    fromPromise<MembersOutcome, { sandbox: string; members: string[] }>(async ({ input }) => {
      const results = await Promise.allSettled(input.members.map((m) =>
        bus.request({ type, from: sandboxAddress(input.sandbox), to: containerAddress(m) })));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${input.members[i]}: ${(r.reason as Error).message}`] : []));
      return { failed };
    });
  return { pauseMembers: order('order.pause'), resumeMembers: order('order.resume'), stopMembers: order('order.stop') };
}

/** The sandbox machine with the bus's effects, made once per bus (`provide` copies the whole machine). */
const provided = new WeakMap<ActorBus, typeof sandboxMachine>();
function providedSandbox(bus: ActorBus): typeof sandboxMachine {
  let m = provided.get(bus);
  if (!m) provided.set(bus, (m = sandboxMachine.provide({ actors: memberEffects(bus) })));
  return m;
}

export interface SandboxActorOptions {
  bus: ActorBus;
  /** called with every machine it starts: the inspector watches it while someone listens */
  watch?: Watch;
  members?: string[];
  rootPresent?: boolean;
  /** the effects, by key (tests swap them) */
  actors?: Partial<ReturnType<typeof memberEffects>>;
  onRemoved?(id: string): void;
}

export class SandboxActor {
  readonly actor: Actor<typeof sandboxMachine>;
  private readonly mailbox: Mailbox;

  constructor(readonly id: string, private readonly opts: SandboxActorOptions) {
    const machine = opts.actors ? sandboxMachine.provide({ actors: { ...memberEffects(opts.bus), ...opts.actors } }) : providedSandbox(opts.bus);
    this.actor = createActor(machine, {
      input: { id, members: opts.members, rootPresent: opts.rootPresent },
    });
    this.actor.subscribe((s) => {
      if (s.status === 'done') this.removed();
    });
    this.mailbox = opts.bus.register(sandboxAddress(id), {
      'member.joined': (m) => this.send({ type: 'member.joined', id: m.id }),
      'member.left': (m) => this.send({ type: 'member.left', id: m.id }),
      // Applied as it arrives, and not in turn: the reply to the root's status waits for every
      // member to follow, and a member's own status (sent from its pause, which waits for this
      // reply) must not wait behind it.
      'member.status': { concurrent: true, handle: (m) => this.memberStatus(m.id, m.status) },
    });
    this.actor.start();
    opts.watch?.(this.actor, sandboxAddress(id), null);
  }

  get status() { return sandboxStatus(this.actor.getSnapshot()); }
  get members(): string[] { return this.actor.getSnapshot().context.members; }

  /** LIFECYCLE: a subcontainer cannot be created into a sandbox that is not running. */
  refuseJoin(member: string): void {
    const snap = this.actor.getSnapshot();
    if (!snap.can({ type: 'member.joined', id: member })) {
      const r = invalidState('join', 'sandbox', this.id, sandboxStatus(snap));
      throw new RunaError(r.code, r.message);
    }
  }

  private async memberStatus(id: string, status: string): Promise<void> {
    if (id !== this.id) return; // a member's own life is its own: the sandbox only counts it
    const ev = rootEvent(status);
    if (ev) this.send(ev);
    // The root's operation returns once the whole sandbox has followed it.
    await waitFor(this.actor, (s) => !sandboxSettling(s) || s.status !== 'active');
  }

  private send(ev: SandboxEvent): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.send(ev);
  }

  private gone = false;
  private removed(): void {
    if (this.gone) return;
    this.gone = true;
    this.mailbox.close();
    this.opts.onRemoved?.(this.id);
  }

}

function rootEvent(status: string): SandboxEvent | null {
  switch (status) {
    case 'running': return { type: 'root.running' };
    case 'paused': return { type: 'root.paused' };
    case 'stopped': return { type: 'root.stopped' };
    case 'deleted': return { type: 'root.deleted' };
    default: return null;
  }
}
