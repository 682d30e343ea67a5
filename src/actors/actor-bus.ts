// The actors' own bus, inside the daemon: Sandbox, Container and Gofer actors talk to each
// other only by typed messages addressed to an actor (`sandbox:<id>`, `container:<id>`,
// `gofer:<id>`), never by calling each other. Every message is checked against its zod
// schema when it is sent, and every message can be watched (the inspector shows it as an
// event from one actor to another).
import { z } from 'zod';
import { RunaError } from '../errors.js';
import { describeIssues, FileRequest } from '../bus/messages.js';
export { FILE_MAX, FileRequest } from '../bus/messages.js';
import type { PlanInput } from '../oci/plan.js';

/** What the gofer needs to lay a container's plan out: everything but the rootfs, its state dir and path resolution, which are its own. */
export type GoferPrepareInput = Omit<PlanInput, 'resolve' | 'rootfs' | 'stateDir'>;

const id = z.string().min(1).max(1024);
const address = z.string().regex(/^(sandbox|container|gofer|process):.+$/);
const signal = z.number().int().min(0).max(64);
/** a container's process: `init`, or an exec'd process's id */
const name = z.string().regex(/^(init|[a-f0-9]{16})$/);
const status = z.enum(['creating', 'created', 'running', 'paused', 'stopped', 'deleted']);

/** One discriminated union for everything the actors say to each other. */
export const ActorMessage = z.discriminatedUnion('type', [
  // Container → Sandbox: facts about a member's lifecycle.
  z.object({ type: z.literal('member.joined'), from: address, to: address, id }),
  z.object({ type: z.literal('member.status'), from: address, to: address, id, status, exitStatus: z.number().int().nullable() }),
  z.object({ type: z.literal('member.left'), from: address, to: address, id }),
  // Sandbox → Container: orders for the whole pod.
  z.object({ type: z.literal('container.stop'), from: address, to: address }),
  z.object({ type: z.literal('container.pause'), from: address, to: address }),
  z.object({ type: z.literal('container.resume'), from: address, to: address }),
  // Container → Gofer: the container's filesystem. validate answers the bundle; prepare resolves
  // every path inside the rootfs and writes the plan nsinit follows; undo removes it all.
  z.object({ type: z.literal('gofer.validate'), from: address, to: address, bundle: z.string().min(1) }),
  z.object({ type: z.literal('gofer.prepare'), from: address, to: address, input: z.custom<GoferPrepareInput>((v) => typeof v === 'object' && v !== null) }),
  z.object({ type: z.literal('gofer.serve'), from: address, to: address }),
  z.object({ type: z.literal('gofer.pause'), from: address, to: address }),
  z.object({ type: z.literal('gofer.resume'), from: address, to: address }),
  z.object({ type: z.literal('gofer.undo'), from: address, to: address }),
  // Anyone → Gofer: file operations on the container's filesystem, as the container sees it.
  z.object({ type: z.literal('gofer.file'), from: address, to: address, request: FileRequest, root: z.string().min(1) }),
  // Container → Process: the process's monitor link (the Process actor holds it).
  z.object({ type: z.literal('process.attach'), from: address, to: address, socket: z.string().min(1), expectedPid: z.number().int().positive().nullable() }),
  z.object({ type: z.literal('process.gate'), from: address, to: address }),
  z.object({ type: z.literal('process.signal'), from: address, to: address, signal }),
  z.object({ type: z.literal('process.follow'), from: address, to: address, status, pid: z.number().int().nullable(), exitStatus: z.number().int().nullable() }),
  // Process → Container: facts from the monitor.
  z.object({ type: z.literal('process.started'), from: address, to: address, name }),
  z.object({ type: z.literal('process.exited'), from: address, to: address, name, exitStatus: z.number().int().min(-1).max(255) }),
  z.object({ type: z.literal('process.lost'), from: address, to: address, name }),
]);
export type ActorMessage = z.infer<typeof ActorMessage>;
export type ActorMessageType = ActorMessage['type'];
export type Address = string;

type Handler = (msg: ActorMessage) => unknown;

export class ActorBus {
  private readonly mailboxes = new Map<Address, Handler>();
  private readonly watchers = new Set<(msg: ActorMessage) => void>();
  private readonly waiting = new Map<number, { msg: ActorMessage; since: number }>();
  private seq = 0;

  /** An actor's mailbox: every message addressed to it arrives here, one at a time in order sent. */
  register(addr: Address, handler: Handler): () => void {
    this.mailboxes.set(addr, handler);
    return () => { if (this.mailboxes.get(addr) === handler) this.mailboxes.delete(addr); };
  }

  has(addr: Address): boolean { return this.mailboxes.has(addr); }

  get size(): number { return this.mailboxes.size; }

  /** Watch every message (the inspector). */
  watch(fn: (msg: ActorMessage) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Send a message and wait for the receiver's answer (its handler's result, or its error). */
  async request<T = unknown>(msg: ActorMessage): Promise<T> {
    const r = ActorMessage.safeParse(msg);
    if (!r.success) throw new RunaError('invalid_message', `actor message: ${describeIssues(r.error)}`);
    const handler = this.mailboxes.get(msg.to);
    for (const w of this.watchers) w(r.data);
    if (!handler) throw new RunaError('not_exist', `no actor ${msg.to}`);
    const n = ++this.seq;
    this.waiting.set(n, { msg: r.data, since: performance.now() });
    try {
      return (await handler(r.data)) as T;
    } finally {
      this.waiting.delete(n);
    }
  }

  /** Messages whose answer is still awaited, oldest first (`runa debug --stacks`). */
  awaiting(now = performance.now()): Array<{ type: string; from: string; to: string; ms: number }> {
    return [...this.waiting.values()].map(({ msg, since }) => ({ type: msg.type, from: msg.from, to: msg.to, ms: Math.round(now - since) }));
  }

  /** Send a message without waiting: a fact the receiver takes note of. Errors are the receiver's. */
  tell(msg: ActorMessage): void {
    this.request(msg).catch(() => undefined);
  }
}
