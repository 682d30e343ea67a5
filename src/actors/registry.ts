// The registry: containers and sandboxes as separate root actors, keyed by id, and the
// router: each client request for one container becomes one message to `container:<id>`
// (its reply is the answer), and a create one to its own actor, `create:<id>`
// (src/actors/create.ts); adoption (src/actors/adoption.ts), listing, events and inspection
// are the registry's own.
import type { Dirent } from 'node:fs';
import type { AnyActor } from 'xstate';
import type { Bus } from '../bus/bus.js';
import { ContainerActor, type ContainerActorOptions, type ContainerRecord } from './container-actor.js';
import { goferAddress } from './gofer-actor.js';
import { alreadyExists, notExist, RunaError, validateId } from '../errors.js';
import { Inspection, type Watch, type Watched } from './inspection.js';
import { brief, type History } from './history.js';
import { takeTrace } from './trace.js';
import { valueName } from './container-view.js';
import { SandboxActor, containerAddress, sandboxAddress } from './sandbox-actor.js';
import { ActorBus, type ActorMessage, type ReplyOf } from './actor-bus.js';
import { ContainerOp, type Request } from '../bus/messages.js';
import { CgroupError } from '../cgroups/index.js';
import { statsEvent } from '../cgroups/stats-json.js';
import { killPoint } from '../faults.js';
import { hostPidIn } from '../proc.js';
import { containerMachine, creationMachine, goferMachine, processMachine, sandboxMachine } from '../machines/index.js';
import type { RegistryHost } from './registry-host.js';
import { CreateActor, createAddress, type CreateActorOptions } from './create.js';
import { adopt } from './adoption.js';

/** Where the client's operations come from on the actors' bus. */
const ROUTER = 'daemon:router';
/** The client's operations on one container (ContainerOp, src/bus/messages.ts): each routed as it is. */
type RoutedType = (typeof ContainerOp)[keyof typeof ContainerOp]['shape']['type']['value'];
/** Those the router does more for than pass on (below). */
const ROUTED_WITH_MORE = new Set<RoutedType>(['container.created', 'container.wait', 'container.waitPid']);

const MACHINES = [sandboxMachine, containerMachine, goferMachine, processMachine, creationMachine];

/**
 * A machine's definition as `inspect.snapshot` sends it: made once per machine (a machine is a
 * constant), as plain JSON, frozen, since every reply shares it. Made anew for each snapshot
 * (toJSON() builds ~110 kB of JSON's worth of objects for runa's five machines, 77 kB of it the
 * container's), a client asking for snapshots in a loop made more garbage than anything else in
 * the daemon, and served at half the rate (test/fairness.test.ts). Keyed weakly by the machine.
 */
const definitionCache = new WeakMap<object, unknown>();
function definitionOf(machine: { toJSON(): unknown }): unknown {
  let d = definitionCache.get(machine);
  if (d === undefined) {
    d = deepFreeze(JSON.parse(JSON.stringify(machine.toJSON())));
    definitionCache.set(machine, d);
  }
  return d;
}
function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

export class Registry implements RegistryHost {
  readonly containers = new Map<string, ContainerActor>();
  readonly sandboxes = new Map<string, SandboxActor>();
  /** The actors' own bus: sandboxes and containers talk over it. */
  readonly actors = new ActorBus();
  readonly inspection: Inspection;
  readonly watch: Watch;

  constructor(readonly root: string, private readonly bus: Bus, private readonly onChange: () => void, private readonly opts: { create?: CreateActorOptions } = {}) {
    this.inspection = new Inspection(bus, () => this.liveActors());
    this.watch = (ref, address, parent) => this.inspection.attach({ ref, address, parent });
    // Every message between actors is an event from one to the other, for whoever watches.
    this.actors.watch((ev) => {
      const m = ev.msg;
      if (ev.kind === 'request' || ev.kind === 'tell') {
        if (this.inspection.watching) this.inspection.message(this.refOf(m.from), this.refOf(m.to), m);
        this.remember(m.type, m.from, m.to);
      } else if (this.inspection.watching) {
        this.inspection.busEvent(ev);
      }
    });
    this.routes();
    bus.tap((body, ms, error) => this.inspection.request(body.type, 'id' in body ? body.id : undefined, Math.round(ms * 10) / 10, error?.message ?? null));
  }

  /** A message goes into the history of each container it concerns (a sandbox's: its root's). */
  private remember(type: string, from: string, to: string): void {
    const ids = new Set([from, to].map((a) => a.slice(a.indexOf(':') + 1).split('/')[0]));
    for (const id of ids) (this.containers.get(id)?.history ?? this.creating.get(id)?.history)?.push({ actor: to, kind: 'message', type, from, to });
  }

  /** The machine behind an actor's address, for the inspector. */
  private refOf(address: string) {
    const [kind, ...rest] = address.split(':');
    const id = rest.join(':');
    if (kind === 'sandbox') return this.sandboxes.get(id)?.actor;
    if (kind === 'container') return this.containers.get(id)?.container;
    if (kind === 'create') return this.creating.get(id)?.actor;
    if (kind === 'gofer') return (this.containers.get(id)?.gofer ?? this.creating.get(id)?.gofer)?.actor;
    if (kind === 'process') {
      const [container, name] = id.split('/');
      return this.containers.get(container)?.processRef(name);
    }
    return undefined;
  }

  /**
   * Every live actor at once, for a viewer that just connected: its address, parent, machine,
   * state and context, and each machine's definition once (instead of a replay of old frames).
   */
  private snapshotAll() {
    // Every machine runa runs, so that a viewer can draw an actor that comes later.
    const definitions: Record<string, unknown> = Object.fromEntries(MACHINES.map((m) => [m.id, definitionOf(m)]));
    const actors = this.liveActors().map(({ ref, address, parent }) => {
      const s = ref.getSnapshot() as { value: unknown; context: unknown; status: string };
      const logic = (ref as AnyActor).logic as { id?: string; toJSON?: () => unknown };
      const machine = logic.id ?? 'unknown';
      if (!(machine in definitions) && logic.toJSON) definitions[machine] = definitionOf(logic as { toJSON(): unknown });
      return { address, parent, sessionId: ref.sessionId, machine, value: s.value, context: s.context, status: s.status };
    });
    return { at: Date.now(), actors, definitions };
  }

  /**
   * The daemon's async activity for a container, as `runa debug --stacks` prints it: the
   * client requests being served for it, the actors' messages awaiting an answer, the
   * effects in flight and the child actors still running.
   */
  private activity(c: ContainerActor) {
    return { ...this.activityOf(c.id), ...c.activity() };
  }

  /** The client requests being served for an id, its actors' mailboxes, and the messages to or from them awaiting an answer. */
  private activityOf(id: string) {
    const concerns = (address: string) => address.slice(address.indexOf(':') + 1).split('/')[0] === id;
    return {
      requests: this.bus.inFlight().filter((r) => r.id === id && r.type !== 'container.debug'),
      mailboxes: this.actors.mailboxes(concerns),
      messages: this.actors.awaiting().filter((m) => concerns(m.from) || concerns(m.to)),
    };
  }

  /**
   * A create: its own actor, at `create:<id>`, which answers it (src/actors/create.ts). An id
   * another create is working on is taken already; an invalid one is never an address.
   */
  private async create(req: Extract<Request, { type: 'container.create' }>) {
    validateId(req.id);
    if (this.creating.has(req.id)) throw alreadyExists(req.id);
    const c = new CreateActor(req.id, this, this.opts.create);
    this.creating.set(req.id, c);
    try {
      return await this.actors.request({ type: 'create.run', from: ROUTER, to: createAddress(req.id), request: req }, { timeoutMs: Infinity });
    } finally {
      c.finish();
    }
  }

  /** Every live actor with its address and its parent's: sandboxes, then each container's. */
  private liveActors(): Watched[] {
    const out: Watched[] = [...this.sandboxes.values()].map((s) => ({ ref: s.actor, address: sandboxAddress(s.id), parent: null }));
    for (const c of this.containers.values()) {
      const me = containerAddress(c.id);
      out.push({ ref: c.container, address: me, parent: sandboxAddress(c.sandboxId) });
      out.push({ ref: c.gofer.actor, address: goferAddress(c.id), parent: me });
      for (const p of c.debugInfo().processes) {
        const ref = c.processRef(p.address.split('/')[1]);
        if (ref) out.push({ ref, address: p.address, parent: me });
      }
    }
    for (const [id, c] of this.creating) {
      out.push({ ref: c.actor, address: c.address, parent: containerAddress(id) });
      if (c.gofer && !this.containers.has(id)) out.push({ ref: c.gofer.actor, address: goferAddress(id), parent: c.address });
    }
    return out;
  }

  /** Creates in progress, each an actor of its own until its Container actor takes over. */
  readonly creating = new Map<string, CreateActor>();

  newSandbox(id: string, opts: { members?: string[]; rootPresent?: boolean } = {}): SandboxActor {
    const sandbox = new SandboxActor(id, {
      bus: this.actors, watch: this.watch, ...opts,
      onRemoved: (sid) => { if (this.sandboxes.get(sid) === sandbox) this.sandboxes.delete(sid); },
    });
    this.sandboxes.set(id, sandbox);
    // The sandbox's changes go into its root's history (a root is added before its sandbox).
    this.containers.get(id)?.track(sandbox.actor, sandboxAddress(id));
    return sandbox;
  }

  /** The containers of a sandbox, root first (or of a lone container, given its id). */
  private podOf(id: string): ContainerActor[] {
    const sandbox = this.sandboxes.get(id);
    if (!sandbox) return [this.get(id)];
    return [id, ...sandbox.members].flatMap((m) => this.containers.get(m) ?? []);
  }

  get size(): number { return this.containers.size; }

  /** What the daemon holds beyond its containers: sandboxes, and mailboxes on the actors' bus (a leak shows here). */
  counts(): { sandboxes: number; mailboxes: number } {
    return { sandboxes: this.sandboxes.size, mailboxes: this.actors.size };
  }

  get(id: string): ContainerActor {
    const c = this.containers.get(id);
    if (!c) throw notExist();
    return c;
  }

  add(record: ContainerRecord, extra: Partial<ContainerActorOptions> = {}): ContainerActor {
    const actor = new ContainerActor(record, {
      bus: this.actors,
      watch: this.watch,
      onGone: (id) => { this.containers.delete(id); this.onChange(); },
      ...extra,
    });
    this.containers.set(record.id, actor);
    this.onChange();
    return actor;
  }

  private routes(): void {
    const bus = this.bus;
    bus.handle('container.create', (req) => this.create(req));
    bus.handle('container.created', (req) => {
      killPoint('create:spawned'); // nsinit is up on the caller's side; the daemon has not heard it yet
      return this.route(req);
    });
    // A client's operation on one container: one message to `container:<id>`, whose reply is the answer.
    for (const op of Object.values(ContainerOp)) {
      const type = op.shape.type.value;
      if (!ROUTED_WITH_MORE.has(type)) bus.handle(type, (req) => this.route(req as never));
    }
    bus.handle('container.wait', async (req) => ({ id: req.id, exitStatus: await this.route(req) }));
    bus.handle('container.waitPid', async ({ rootNs, ...req }) => {
      // --rootpid: the pid as the sandbox's root pid namespace (its root's init's) shows it, found among the live processes there.
      let pid = req.pid;
      if (rootNs) {
        const root = this.containers.get(this.get(req.id).sandboxId)?.monitor.initPid;
        const found = root ? hostPidIn(root, req.pid) : null;
        if (found === null) throw new RunaError('not_exist', `waiting on PID in root PID namespace ${req.pid} in container ${JSON.stringify(req.id)}: no such live process in sandbox ${JSON.stringify(this.get(req.id).sandboxId)}'s root PID namespace`);
        pid = found;
      }
      return { id: req.id, pid, exitStatus: await this.route({ ...req, pid }) };
    });
    bus.handle('container.events', (req, env) => {
      if (!env.session) throw new RunaError('unsupported', 'events need a socket session');
      if (req.sandbox && !this.sandboxes.has(req.id)) throw new RunaError('not_exist', `sandbox "${req.id}" does not exist`);
      if (!req.sandbox) this.get(req.id);
      const topic = req.sandbox ? `events:sandbox:${req.id}` : `events:${req.id}`;
      env.session.subscribe(topic);
      this.watchEvents(req.id, req.interval, req.sandbox ?? false);
      return { topic };
    });
    bus.handle('container.debug', (req) => {
      const creating = this.creating.get(req.id);
      if (creating && !this.containers.has(req.id)) {
        return {
          id: req.id, sandbox: null, ...creating.debugInfo(), events: creating.history.last(req.events ?? 0).map(brief),
          ...(req.stacks ? { activity: { ...this.activityOf(req.id), ...creating.activity() } } : {}),
        };
      }
      const c = this.get(req.id);
      const sandbox = this.sandboxes.get(c.sandboxId);
      return {
        id: c.id,
        sandbox: sandbox ? { id: sandbox.id, value: String(sandbox.actor.getSnapshot().value), status: sandbox.status, members: sandbox.members } : null,
        ...c.debugInfo(),
        events: c.history.last(req.events ?? 0).map(brief),
        ...(req.stacks ? { activity: this.activity(c) } : {}),
      };
    });
    bus.handle('container.history', (req) => ({ id: req.id, events: (this.containers.get(req.id) ?? this.creating.get(req.id) ?? this.get(req.id)).history.last() }));
    bus.handle('container.trace', (req) => {
      const c = this.get(req.id);
      const states = () => {
        const d = c.debugInfo();
        // A member's history has its sandbox's messages, not its changes (its root's has them): no state drawn for it.
        const sandbox = c.sandboxId === c.id ? this.sandboxes.get(c.sandboxId) : undefined;
        return new Map([
          ...(sandbox ? [[sandboxAddress(sandbox.id), valueName(sandbox.actor.getSnapshot().value)] as [string, string]] : []),
          [d.container.address, d.container.value], [d.gofer.address, d.gofer.value], ...d.processes.map((p): [string, string] => [p.address, p.value]),
        ]);
      };
      return takeTrace({ id: c.id, address: containerAddress(c.id), history: c.history, states }, req.file, req.ms);
    });
    bus.handle('inspect.snapshot', () => this.snapshotAll());
    bus.handle('container.list', () => [...this.containers.values()].map((c) => c.state()).sort((a, b) => a.id.localeCompare(b.id)));
    bus.handle('inspect.subscribe', (_req, env) => {
      if (!env.session) throw new RunaError('unsupported', 'inspection needs a socket session');
      env.session.subscribe('inspect');
      return this.inspection.replay();
    });
    bus.handle('inspect.unsubscribe', (_req, env) => env.session?.unsubscribe('inspect'));
  }

  /**
   * The router: a client's request for one container goes to its actor as one message (the id
   * becomes the address) and its reply is the answer. No deadline: the client waits as long as
   * the operation takes (a hook, CRIU, a wait), as it would for runc.
   */
  private async route<R extends Extract<Request, { id: string }> & { type: RoutedType }>(req: R): Promise<ReplyOf<R['type']>> {
    const { id, ...op } = req;
    try {
      return await this.actors.request({ ...op, from: ROUTER, to: containerAddress(id) } as ActorMessage & { type: R['type'] }, { timeoutMs: Infinity }) as ReplyOf<R['type']>;
    } catch (e) {
      // No actor there (never created, or deleted meanwhile): runc's words.
      if ((e as RunaError).code === 'dead_letter') throw notExist();
      throw e;
    }
  }

  /** Re-adopt every container from disk and from its monitor (a restarted daemon loses nothing): src/actors/adoption.ts. `entries`: the root's, as the daemon's start listed them. */
  adopt(entries: Dirent[]): Promise<void> { return adopt(this, entries); }

  private readonly watchers = new Map<string, NodeJS.Timeout>();

  /**
   * `events`: stats every interval and an `oom` event as soon as the OOM killer strikes
   * (polled: cgroup v1's eventfd notification needs native code), while anyone listens.
   * For a sandbox (`events --sandbox`), the same for every container in it, each event
   * naming its container; it ends when the last one is gone.
   */
  private watchEvents(id: string, intervalMs: number, sandbox: boolean): string {
    const topic = sandbox ? `events:sandbox:${id}` : `events:${id}`;
    if (this.watchers.has(topic)) return topic;
    const members = (): ContainerActor[] => {
      if (!sandbox) return this.containers.has(id) ? [this.containers.get(id)!] : [];
      return this.sandboxes.has(id) ? this.podOf(id) : [];
    };
    const ooms = new Map(members().map((c) => [c.id, c.oomCount()]));
    let last = 0;
    const tick = () => {
      const pod = members();
      if (!pod.length || !this.bus.hasListeners(topic)) {
        if (!pod.length) this.bus.publish(topic, { type: 'end', id });
        clearInterval(timer);
        this.watchers.delete(topic);
        return;
      }
      const due = Date.now() - last >= intervalMs;
      if (due) last = Date.now();
      for (const c of pod) {
        const now = c.oomCount();
        if (now > (ooms.get(c.id) ?? 0)) this.bus.publish(topic, { type: 'oom', id: c.id });
        ooms.set(c.id, now);
        if (due) {
          try {
            this.bus.publish(topic, statsEvent(c.id, c.stats()));
          } catch (e) {
            // not running: no stats; a counter that cannot be read (one past 2^64−1): runc logs
            // the error and goes on, so the CLI prints this on stderr and the stream goes on
            if (e instanceof CgroupError) this.bus.publish(topic, { type: 'error', id: c.id, message: e.message });
          }
        }
      }
    };
    const timer = setInterval(tick, Math.min(250, intervalMs));
    this.watchers.set(topic, timer);
    setImmediate(tick);
    return topic;
  }
}
