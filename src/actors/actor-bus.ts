// The actors' own bus, inside the daemon: Sandbox, Container, Gofer and Process actors talk to
// each other only by typed messages addressed to an actor (`sandbox:<id>`, `container:<id>`,
// `gofer:<id>`, `process:<id>/<name>`), never by calling each other.
//
// - Every actor has one mailbox: a queue handled in order, one message at a time. A handler an
//   actor registers as `concurrent` (facts applied at once, read-only queries) runs as its
//   message arrives, beside whatever the queue is handling. An actor's owner may put work of its
//   own in the same queue (`Mailbox.enqueue`: the Container actor's operations).
// - `request` expects a reply: the reply type is inferred from the request's type. It rejects
//   after the caller's timeout (a default otherwise), naming the message and its address; a
//   reply that comes later is dropped. `tell` states a fact: no reply, the receiver's errors are
//   its own.
// - A message to no actor, to a stopped one, or to a full mailbox is a dead letter: the request
//   is refused at once with why (`no actor at <address>`, `actor <address> stopped`), never left
//   waiting.
// - Every request and every reply has its zod schema here (`ActorMessage`, `ActorReplies`).
//   Checked (the default, and in tests): requests are checked when sent and replies when given;
//   RUNA_CHECK_ACTOR_MESSAGES=0 turns the checks off for the daemon's hot path.
// - Every request, tell, reply, timeout and dead letter is shown to watchers (the inspector).
import { z } from 'zod';
import { RunaError } from '../errors.js';
import { ContainerOp, describeIssues, FileRequest, MonitorMessage, OciState, StatsEvent } from '../bus/messages.js';
import { Spec } from '../oci/spec.js';
export { FILE_MAX, FileRequest } from '../bus/messages.js';
import type { PlanInput } from '../oci/plan.js';

const id = z.string().min(1).max(1024);
const address = z.string().regex(/^(sandbox|container|gofer|process|daemon):.+$/);
/** A client's operation on one container, from the daemon's router (src/bus/messages.ts, ContainerOp). */
const routed = { from: address, to: address };
const signal = z.number().int().min(0).max(64);
/** a container's process: `init`, or an exec'd process's id */
const name = z.string().regex(/^(init|[a-f0-9]{16})$/);
const status = z.enum(['creating', 'created', 'running', 'paused', 'stopped', 'deleted']);
const path = z.string().min(1);
const int = z.number().int();

/**
 * What the gofer needs to lay a container's plan out: everything but the rootfs, its state dir
 * and path resolution, which are its own (PlanInput's fields, src/oci/plan.ts). The spec is
 * checked whole by the OCI Spec schema; the compiled seccomp filter's program is a Buffer.
 */
export const GoferPrepareInput = z.object({
  spec: Spec,
  overlay: z.boolean().optional(),
  hostCgroups: z.array(z.object({ dir: z.string(), fstype: z.enum(['cgroup', 'cgroup2']), options: z.string() })),
  cgroupDirs: z.object({ monitor: z.array(path), child: z.array(path) }).optional(),
  console: z.enum(['socket', 'proxy']).nullable().optional(),
  consoleSocket: z.string().optional(),
  seccomp: z.object({
    filter: z.object({
      program: z.instanceof(Buffer, { message: 'must be a Buffer (the compiled sock_filter array)' }),
      length: int.min(0),
      flags: int.min(0),
      notify: z.boolean(),
      listenerPath: z.string().optional(),
      listenerMetadata: z.string().optional(),
      unknown: z.array(z.string()),
    }),
    listenerState: z.string().optional(),
  }).optional(),
  supervised: z.boolean().optional(),
  unprivileged: z.object({ uid: int.min(0), gid: int.min(0), newuidmap: z.string().nullable(), newgidmap: z.string().nullable() }).optional(),
  inUserNs: z.boolean().optional(),
  keyring: z.string().nullable().optional(),
  pidfdSocket: z.string().optional(),
  rdtDir: z.string().optional(),
});
export type GoferPrepareInput = z.infer<typeof GoferPrepareInput>;
// The schema is PlanInput's, field for field: buildPlan takes what it checks.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const samePlanInput: Exact<Required<GoferPrepareInput>, Required<Omit<PlanInput, 'resolve' | 'rootfs' | 'stateDir'>>> = true;
void samePlanInput;

/** One discriminated union for everything the actors say to each other. */
export const ActorMessage = z.discriminatedUnion('type', [
  // Container → Sandbox: facts about a member's lifecycle.
  z.object({ type: z.literal('member.joined'), from: address, to: address, id }),
  z.object({ type: z.literal('member.status'), from: address, to: address, id, status, exitStatus: int.nullable() }),
  z.object({ type: z.literal('member.left'), from: address, to: address, id }),
  // Sandbox → Container: orders for the whole pod.
  z.object({ type: z.literal('order.stop'), from: address, to: address }),
  z.object({ type: z.literal('order.pause'), from: address, to: address }),
  z.object({ type: z.literal('order.resume'), from: address, to: address }),
  // Router → Container: the client's operations, each one message to `container:<id>`.
  ContainerOp.created.extend(routed),
  ContainerOp.createFailed.extend(routed),
  ContainerOp.hooks.extend(routed),
  ContainerOp.start.extend(routed),
  ContainerOp.exec.extend(routed),
  ContainerOp.execStarted.extend(routed),
  ContainerOp.execFailed.extend(routed),
  ContainerOp.kill.extend(routed),
  ContainerOp.delete.extend(routed),
  ContainerOp.wait.extend(routed),
  ContainerOp.waitPid.extend(routed),
  ContainerOp.pause.extend(routed),
  ContainerOp.checkpoint.extend(routed),
  ContainerOp.resume.extend(routed),
  ContainerOp.update.extend(routed),
  ContainerOp.stats.extend(routed),
  ContainerOp.state.extend(routed),
  ContainerOp.file.extend(routed),
  // Container → Gofer: the container's filesystem. validate answers the bundle; prepare resolves
  // every path inside the rootfs and writes the plan nsinit follows; undo removes it all.
  z.object({ type: z.literal('gofer.validate'), from: address, to: address, bundle: z.string().min(1) }),
  z.object({ type: z.literal('gofer.prepare'), from: address, to: address, input: GoferPrepareInput }),
  z.object({ type: z.literal('gofer.serve'), from: address, to: address }),
  z.object({ type: z.literal('gofer.pause'), from: address, to: address }),
  z.object({ type: z.literal('gofer.resume'), from: address, to: address }),
  z.object({ type: z.literal('gofer.undo'), from: address, to: address }),
  // Anyone → Gofer: file operations on the container's filesystem, as the container sees it.
  z.object({ type: z.literal('gofer.file'), from: address, to: address, request: FileRequest, root: z.string().min(1) }),
  // Container → Process: the process's monitor link (the Process actor holds it).
  z.object({ type: z.literal('process.attach'), from: address, to: address, socket: z.string().min(1), expectedPid: int.positive().nullable() }),
  z.object({ type: z.literal('process.gate'), from: address, to: address }),
  z.object({ type: z.literal('process.signal'), from: address, to: address, signal }),
  z.object({ type: z.literal('process.follow'), from: address, to: address, status, pid: int.nullable(), exitStatus: int.nullable() }),
  // Process → Container: facts from the monitor.
  z.object({ type: z.literal('process.started'), from: address, to: address, name }),
  z.object({ type: z.literal('process.exited'), from: address, to: address, name, exitStatus: int.min(-1).max(255) }),
  z.object({ type: z.literal('process.lost'), from: address, to: address, name }),
]);
export type ActorMessage = z.infer<typeof ActorMessage>;
export type ActorMessageType = ActorMessage['type'];
export type Address = string;

/** The bundle the gofer validated. */
export const BundleReply = z.object({ bundle: z.string().min(1), rootfs: z.string().min(1), spec: Spec });
/** What a file operation answers. */
export const FileReply = z.union([
  z.object({ type: z.enum(['file', 'directory', 'symlink', 'other']), size: int.min(0), mode: int.min(0), uid: int.min(0), gid: int.min(0) }),
  z.object({ data: z.string() }),
  z.object({ written: int.min(0) }),
]);
/** The monitor's hello, as the Process actor that attached answers it. */
export const MonitorHelloReply = z.object({ pid: int.positive(), initPid: int.positive(), state: z.enum(['created', 'running']) });

const Warnings = z.object({ warnings: z.array(z.string()) });

/** The reply to each message (`z.void()`: none but "done"). */
export const ActorReplies = {
  'member.joined': z.void(),
  'member.status': z.void(),
  'member.left': z.void(),
  /** pause and resume: whether the member did anything (false: it was not where the order applies) */
  'order.stop': z.void(),
  'order.pause': z.boolean(),
  'order.resume': z.boolean(),
  'container.created': z.void(),
  'container.createFailed': z.void(),
  'container.hooks': z.void(),
  'container.start': z.void(),
  /** the exec'd process's id and the plan its nsinit follows */
  'container.exec': z.object({ execId: z.string().regex(/^[a-f0-9]{16}$/), plan: path }),
  'exec.started': z.void(),
  'exec.failed': z.void(),
  'container.kill': z.void(),
  /** what the poststop hooks or the host said, for the caller's warnings */
  'container.delete': Warnings,
  /** the init's exit status */
  'container.wait': int,
  /** that process's exit status */
  'container.waitPid': int,
  'container.pause': z.void(),
  'container.checkpoint': z.void(),
  'container.resume': z.void(),
  'container.update': Warnings,
  'container.stats': StatsEvent,
  'container.state': OciState,
  'container.file': FileReply,
  'gofer.validate': BundleReply,
  /** the plan file's path */
  'gofer.prepare': z.string().min(1),
  'gofer.serve': z.void(),
  'gofer.pause': z.void(),
  'gofer.resume': z.void(),
  'gofer.undo': z.void(),
  'gofer.file': FileReply,
  'process.attach': MonitorHelloReply,
  /** what the monitor said when its gate opened: process.started, process.failed or process.exited */
  'process.gate': MonitorMessage,
  'process.signal': z.void(),
  'process.follow': z.void(),
  'process.started': z.void(),
  'process.exited': z.void(),
  'process.lost': z.void(),
} satisfies { [T in ActorMessageType]: z.ZodType };

export type MessageOf<T extends ActorMessageType> = Extract<ActorMessage, { type: T }>;
export type ReplyOf<T extends ActorMessageType> = z.infer<(typeof ActorReplies)[T]>;
export type Handler<T extends ActorMessageType> = (m: MessageOf<T>) => ReplyOf<T> | Promise<ReplyOf<T>>;
/** A handler, or one that runs as its message arrives instead of waiting its turn in the queue. */
export type HandlerSpec<T extends ActorMessageType> = Handler<T> | { concurrent: true; handle: Handler<T> };
/** An actor's handlers, by message type: a message of any other type is refused. */
export type Handlers = { [T in ActorMessageType]?: HandlerSpec<T> };

/** What watchers see: every message sent, and what became of it. */
export type BusEvent =
  | { kind: 'request'; msg: ActorMessage }
  | { kind: 'tell'; msg: ActorMessage }
  | { kind: 'reply'; msg: ActorMessage; ms: number; error: string | null }
  /** a tell whose handler failed (no one is waiting for it) */
  | { kind: 'failed'; msg: ActorMessage; ms: number; error: string }
  | { kind: 'dead-letter'; msg: ActorMessage; reason: string }
  | { kind: 'timeout'; msg: ActorMessage; ms: number }
  /** the reply of a request that timed out, dropped */
  | { kind: 'late'; msg: ActorMessage; ms: number };

/** How long a request waits for its reply unless its caller says otherwise. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** How many messages a mailbox holds (queued and being handled) before it refuses more. */
export const DEFAULT_CAPACITY = 4096;
/** How many stopped actors' addresses are remembered, to tell "stopped" from "no actor". */
const STOPPED_KEPT = 1024;

export interface ActorBusOptions {
  /** check every request and reply against its schema (default: unless RUNA_CHECK_ACTOR_MESSAGES=0) */
  check?: boolean;
  timeoutMs?: number;
  capacity?: number;
}

/** A message, or the owner's own work, waiting in a mailbox or being handled. */
interface Letter {
  type: string;
  from: string;
  since: number;
  run(): unknown;
  done(ok: boolean, value: unknown): void;
}

/** One entry of a mailbox as `runa debug --stacks` shows it. */
export interface Pending { type: string; from: string; ms: number }
export interface MailboxView { address: string; handling: Pending[]; queued: Pending[] }

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function';

/** An actor's mailbox: its queue, and the handlers of the messages it takes. */
export class Mailbox {
  private readonly queue: Letter[] = [];
  private current: Letter | null = null;
  /** concurrent handlers running now */
  private readonly alongside = new Set<Letter>();
  private kicked = false;
  closed = false;

  constructor(
    readonly address: Address,
    readonly handlers: Handlers,
    private readonly capacity: number,
    private readonly bus: { idle(box: Mailbox): void; close(box: Mailbox): void },
  ) {}

  /** The actor stops: its address goes, later messages are dead letters; what it took is still handled. */
  close(): void { this.bus.close(this); }

  private onIdle(): void { this.bus.idle(this); }

  /**
   * Put the owner's own work in the queue, behind every message before it: it runs when its turn
   * comes, one at a time with the messages. Still taken once the mailbox is closed to messages
   * (the owner finishes what it began); refused only when the mailbox is full.
   */
  enqueue<T>(type: string, op: () => T | Promise<T>, from = 'owner'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.accept({
        type, from, since: performance.now(), run: op,
        done: (ok, v) => (ok ? resolve(v as T) : reject(v)),
      }, false);
    });
  }

  /** Take a letter: run it now (concurrent, or the queue is idle) or queue it. Throws when full. */
  accept(letter: Letter, concurrent: boolean, now = false): void {
    if (this.queue.length + this.alongside.size + (this.current ? 1 : 0) >= this.capacity) {
      throw new RunaError('dead_letter', `actor ${this.address} mailbox full (${this.capacity} messages): ${letter.type} refused`);
    }
    if (concurrent) return this.runAlongside(letter);
    if (now && !this.current && !this.queue.length) return this.run(letter);
    this.queue.push(letter);
    // The owner's work starts in a later microtask, as an awaited operation would; messages sent
    // meanwhile queue behind it.
    if (!this.current && !this.kicked) {
      this.kicked = true;
      queueMicrotask(() => { this.kicked = false; this.next(); });
    }
  }

  private next(): void {
    if (this.current) return;
    const letter = this.queue.shift();
    if (letter) this.run(letter);
    else if (!this.alongside.size) this.onIdle();
  }

  private run(letter: Letter): void {
    this.current = letter;
    const finish = (ok: boolean, v: unknown) => {
      this.current = null;
      letter.done(ok, v);
      this.next();
    };
    let r: unknown;
    try { r = letter.run(); } catch (e) { return finish(false, e); }
    if (isThenable(r)) r.then((v) => finish(true, v), (e) => finish(false, e));
    else finish(true, r);
  }

  private runAlongside(letter: Letter): void {
    this.alongside.add(letter);
    const finish = (ok: boolean, v: unknown) => {
      this.alongside.delete(letter);
      letter.done(ok, v);
      if (!this.current && !this.queue.length && !this.alongside.size) this.onIdle();
    };
    let r: unknown;
    try { r = letter.run(); } catch (e) { return finish(false, e); }
    if (isThenable(r)) r.then((v) => finish(true, v), (e) => finish(false, e));
    else finish(true, r);
  }

  get busy(): boolean { return this.current !== null || this.queue.length > 0 || this.alongside.size > 0; }

  /** What it is handling (the queue's head and any concurrent handler) and what waits, oldest first. */
  view(now = performance.now()): MailboxView {
    const entry = (l: Letter): Pending => ({ type: l.type, from: l.from, ms: Math.round(now - l.since) });
    const handling = [...(this.current ? [this.current] : []), ...this.alongside].sort((a, b) => a.since - b.since).map(entry);
    return { address: this.address, handling, queued: this.queue.map(entry) };
  }
}

export class ActorBus {
  private readonly boxes = new Map<Address, Mailbox>();
  /** closed mailboxes still handling what they had taken */
  private readonly closing = new Set<Mailbox>();
  private readonly stopped = new Set<Address>();
  private readonly watchers = new Set<(ev: BusEvent) => void>();
  private readonly waiting = new Map<number, { msg: ActorMessage; since: number }>();
  private seq = 0;
  readonly check: boolean;
  private readonly timeoutMs: number;
  private readonly capacity: number;

  constructor(opts: ActorBusOptions = {}) {
    this.check = opts.check ?? process.env.RUNA_CHECK_ACTOR_MESSAGES !== '0';
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.capacity = opts.capacity ?? DEFAULT_CAPACITY;
  }

  /**
   * Give an actor its mailbox at an address, with a handler for each message type it takes.
   * Closing the mailbox (the actor stops) takes the address away: later messages are dead
   * letters; those already queued are still handled, in order.
   */
  register(addr: Address, handlers: Handlers, opts: { capacity?: number } = {}): Mailbox {
    const box = new Mailbox(addr, handlers, opts.capacity ?? this.capacity, {
      idle: (b) => { if (b.closed) this.closing.delete(b); },
      close: (b) => this.close(b),
    });
    this.boxes.get(addr)?.close();
    this.boxes.set(addr, box);
    this.stopped.delete(addr);
    return box;
  }

  private close(box: Mailbox): void {
    if (box.closed) return;
    box.closed = true;
    if (this.boxes.get(box.address) !== box) return;
    this.boxes.delete(box.address);
    if (box.busy) this.closing.add(box);
    this.stopped.add(box.address);
    if (this.stopped.size > STOPPED_KEPT) this.stopped.delete(this.stopped.values().next().value!);
  }

  has(addr: Address): boolean { return this.boxes.has(addr); }

  get size(): number { return this.boxes.size; }

  /** Watch every message and what became of it (the inspector). */
  watch(fn: (ev: BusEvent) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private emit(ev: BusEvent): void {
    for (const w of this.watchers) w(ev);
  }

  /** A message's schema check; throws the field path of what is wrong. */
  private checked(msg: ActorMessage): void {
    const r = ActorMessage.safeParse(msg);
    if (!r.success) throw new RunaError('invalid_message', `actor message: ${describeIssues(r.error)}`);
  }

  /** The mailbox a message goes to, its handler and whether it runs at once; or why it is a dead letter. */
  private route(msg: ActorMessage): { box: Mailbox; handle: (m: ActorMessage) => unknown; concurrent: boolean } | RunaError {
    const box = this.boxes.get(msg.to);
    if (!box) {
      return new RunaError('dead_letter', this.stopped.has(msg.to) ? `actor ${msg.to} stopped: ${msg.type} refused` : `no actor at ${msg.to}: ${msg.type} refused`);
    }
    const spec = box.handlers[msg.type] as HandlerSpec<ActorMessageType> | undefined;
    if (!spec) return new RunaError('invalid_message', `actor ${msg.to} does not take ${msg.type}`);
    return typeof spec === 'function'
      ? { box, handle: spec as (m: ActorMessage) => unknown, concurrent: false }
      : { box, handle: spec.handle as (m: ActorMessage) => unknown, concurrent: true };
  }

  /**
   * Send a message and wait for the receiver's reply (its handler's result, checked against the
   * reply's schema, or its error). Rejects at once for a dead letter, and after `timeoutMs`
   * (the bus's default otherwise; Infinity: never) with the message's type and address.
   */
  request<M extends ActorMessage>(msg: M, opts: { timeoutMs?: number } = {}): Promise<ReplyOf<M['type']>> {
    try {
      if (this.check) this.checked(msg);
    } catch (e) {
      return Promise.reject(e);
    }
    this.emit({ kind: 'request', msg });
    const route = this.route(msg);
    if (route instanceof RunaError) {
      this.emit({ kind: 'dead-letter', msg, reason: route.message });
      return Promise.reject(route);
    }
    const n = ++this.seq;
    const since = performance.now();
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<ReplyOf<M['type']>>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      let timedOut = false;
      const letter: Letter = {
        type: msg.type, from: msg.from, since,
        run: () => route.handle(msg),
        done: (ok, value) => {
          const ms = performance.now() - since;
          if (timedOut) {
            this.emit({ kind: 'late', msg, ms });
            return;
          }
          if (timer) clearTimeout(timer);
          this.waiting.delete(n);
          if (ok && this.check) {
            const r = ActorReplies[msg.type].safeParse(value);
            if (!r.success) { ok = false; value = new RunaError('invalid_message', `reply to ${msg.type} from ${msg.to}: ${describeIssues(r.error)}`); }
          }
          this.emit({ kind: 'reply', msg, ms, error: ok ? null : String((value as Error)?.message ?? value) });
          if (ok) resolve(value as ReplyOf<M['type']>);
          else reject(value);
        },
      };
      this.waiting.set(n, { msg, since });
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          timedOut = true;
          this.waiting.delete(n);
          this.emit({ kind: 'timeout', msg, ms: timeoutMs });
          reject(new RunaError('timeout', `no reply to ${msg.type} from ${msg.to} within ${timeoutMs} ms`));
        }, timeoutMs); // not unref'd: the caller is told, even where nothing else keeps the process up
      }
      try {
        route.box.accept(letter, route.concurrent, true);
      } catch (e) {
        if (timer) clearTimeout(timer);
        this.waiting.delete(n);
        this.emit({ kind: 'dead-letter', msg, reason: (e as Error).message });
        reject(e);
      }
    });
  }

  /**
   * State a fact: the receiver handles it in its turn, and no reply is waited for. A dead letter
   * and the receiver's error are shown to watchers, not thrown; a malformed message throws.
   */
  tell(msg: ActorMessage): void {
    if (this.check) this.checked(msg);
    this.emit({ kind: 'tell', msg });
    const route = this.route(msg);
    if (route instanceof RunaError) {
      this.emit({ kind: 'dead-letter', msg, reason: route.message });
      return;
    }
    const since = performance.now();
    const letter: Letter = {
      type: msg.type, from: msg.from, since,
      run: () => route.handle(msg),
      done: (ok, value) => {
        if (!ok) this.emit({ kind: 'failed', msg, ms: performance.now() - since, error: String((value as Error)?.message ?? value) });
      },
    };
    try {
      route.box.accept(letter, route.concurrent, true);
    } catch (e) {
      this.emit({ kind: 'dead-letter', msg, reason: (e as Error).message });
    }
  }

  /** Messages whose reply is still awaited, oldest first (`runa debug --stacks`). */
  awaiting(now = performance.now()): Array<{ type: string; from: string; to: string; ms: number }> {
    return [...this.waiting.values()].map(({ msg, since }) => ({ type: msg.type, from: msg.from, to: msg.to, ms: Math.round(now - since) }));
  }

  /** The mailboxes with something in them (handled or queued), for the addresses asked about. */
  mailboxes(which: (addr: Address) => boolean = () => true, now = performance.now()): MailboxView[] {
    const out: MailboxView[] = [];
    for (const box of [...this.boxes.values(), ...this.closing]) {
      if (box.busy && which(box.address)) out.push(box.view(now));
    }
    return out;
  }
}
