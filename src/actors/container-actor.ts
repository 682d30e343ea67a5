// One container as a root actor: its machine (which drives its own lifecycle and invokes its
// effects by key), its init and exec'd processes, its gofer and its mailbox. An operation is
// one event to the machine, in the mailbox's turn: the machine refuses it or settles it, and
// its outcome is the reply. Facts from the monitor (the init started, exited) apply at once.
import fs from 'node:fs';
import path from 'node:path';
import { createActor, fromPromise, type Actor, type ActorSystem, type AnyActor } from 'xstate';
import {
  containerMachine, containerState, containerStatus, isSettled, refusal, CONTAINER_EFFECT_KEYS,
  type ContainerEvent, type ContainerSnapshot, type ContainerStatus, type HookKind, type Outcome,
} from '../machines/container.js';
import { ProcessActor } from './process-actor.js';
import { PidWaits } from './pid-waits.js';
import { History } from './history.js';
import { containerAddress, sandboxAddress } from './sandbox-actor.js';
import type { ActorBus, FileRequest, Mailbox } from './actor-bus.js';
import { RunaError } from '../errors.js';
import { parseSpecText, type Spec } from '../oci/spec.js';
import { Cgroup, emptyStats, LinuxResourcesSchema } from '../cgroups/index.js';
import { statsEvent } from '../cgroups/stats-json.js';
import { describeIssues } from '../bus/messages.js';
import { hostCgroups } from '../cgroups/host.js';
import { GoferActor, goferAddress } from './gofer-actor.js';
import { ociState, processAlive, readExit, removeStateDir, writeState, SCHEMA_VERSION, type PersistedContainer, type Status } from '../state.js';
import type { Watch } from './inspection.js';
import { runaEffects, attach, type ContainerEffects, type EffectHost, type ExecRequest, type MonitorFacts } from './container-effects.js';
import type { ContainerRecord } from './container-record.js';
import { monitorSocket } from '../paths.js';
import { killPoint } from '../faults.js';

export type { ContainerRecord } from './container-record.js';
export { cgroupDirs, execCgroupDirs } from './container-cgroups.js';
export type { ContainerEffects } from './container-effects.js';

/** Exit status recorded when a monitor vanished without writing one: its death SIGKILLs the init (pdeathsig). */
export const LOST_MONITOR_STATUS = 137;

/**
 * The container machine with runa's effects provided once per daemon (`provide` copies a whole
 * machine: too dear per container): an invoked effect finds its container's through the actor
 * system it runs in.
 */
const owners = new WeakMap<ActorSystem<any>, ContainerActor>();
const providedMachine = containerMachine.provide({
  actors: Object.fromEntries(CONTAINER_EFFECT_KEYS.map((key) => [key, fromPromise(async ({ input, system }) => {
    const owner = owners.get(system);
    if (!owner) throw new RunaError('not_running', 'container not running');
    return owner.perform(key, input);
  })])) as never,
});

export interface ContainerActorOptions {
  /** the actors' bus: the container's sandbox hears about it there, and orders it about */
  bus: ActorBus;
  /** the container's gofer (made by whoever validated the bundle; a new one, serving, on adoption) */
  gofer?: GoferActor;
  /** the config its create just validated and kept in the state dir (read from there when absent) */
  spec?: Spec;
  /** the history its create already began (the gofer's validation comes before the container actor) */
  history?: History;
  /** replace some of the container's effects (tests) */
  effects?: Partial<ContainerEffects>;
  /** called with every machine it starts: the inspector watches it while someone listens */
  watch?: Watch;
  /** persisted container snapshot to resume from (adoption) */
  snapshot?: unknown;
  monitor?: { pid: number | null; startTime: string | null; initPid: number | null; initStartTime?: string | null };
  onGone?(id: string): void;
}

/** An effect in flight, for `runa debug --stacks`. */
interface Running { effect: string; ticket: number; since: number }

export class ContainerActor implements EffectHost {
  readonly container: Actor<typeof containerMachine>;
  readonly init: ProcessActor;
  readonly gofer: GoferActor;
  readonly bus: ActorBus;
  readonly monitor: MonitorFacts = { linked: false, monitorPid: null, monitorStartTime: null, initPid: null, initStartTime: null };
  /** Its mailbox on the actors' bus: messages and its operations, one at a time in order. */
  private readonly mailbox: Mailbox;
  private readonly effects: ContainerEffects;
  private readonly running = new Map<number, Running>();
  private stoppedWaiters: Array<(status: number) => void> = [];
  private readonly execs = new Map<string, { process: ProcessActor; dir: string }>();
  /** `wait --pid`: its init's and exec'd processes' exits by host pid (src/actors/pid-waits.ts) */
  private readonly pidWaits = new PidWaits({
    id: () => this.id, initPid: () => this.monitor.initPid, waitInit: () => this.wait(),
    execPids: () => [...this.execs.keys()].flatMap((name) => this.execPid(name) ?? []),
  });
  private execPid(name: string): number | null { return this.execs.get(name)?.process.actor.getSnapshot().context.pid ?? null; }
  /** What happened to this container's actors lately (`runa debug --events`). */
  readonly history: History;
  /** The sandbox has followed this container's last change (for a root: pause, resume, stop of every member). */
  sandboxSettled: Promise<unknown> = Promise.resolve();
  private gone = false;

  constructor(readonly record: ContainerRecord, private readonly opts: ContainerActorOptions) {
    this.bus = opts.bus;
    this.history = opts.history ?? new History();
    this.specCache = opts.spec ?? null;
    if (opts.monitor) {
      Object.assign(this.monitor, { monitorPid: opts.monitor.pid, monitorStartTime: opts.monitor.startTime, initPid: opts.monitor.initPid, initStartTime: opts.monitor.initStartTime ?? null });
    }
    this.effects = { ...runaEffects(this), ...opts.effects } as ContainerEffects;
    this.container = createActor(providedMachine, {
      input: { id: record.id },
      ...(opts.snapshot ? { snapshot: restorable(opts.snapshot) as never } : {}),
      // What each transition was caused by, for the history: the event the machine took.
      inspect: (ev) => { if (ev.type === '@xstate.event' && ev.actorRef === this.container) this.cause = ev.event.type; },
    });
    owners.set(this.container.system, this);
    this.init = new ProcessActor(record.id, 'init', 'init', { bus: opts.bus, watch: opts.watch });
    this.gofer = opts.gofer ?? new GoferActor(record.id, record.stateDir, record.rootfs, { bus: opts.bus, watch: opts.watch, serving: true });
    this.last = this.container.getSnapshot();
    this.container.subscribe((s) => this.changed(s));
    this.container.start();
    opts.watch?.(this.container, this.address, sandboxAddress(this.sandboxId));
    this.track(this.init.actor, this.init.address);
    this.track(this.gofer.actor, goferAddress(record.id));
    this.syncCompanions();
    this.mailbox = opts.bus.register(this.address, this.handlers());
  }

  get id(): string { return this.record.id; }
  /** The sandbox this container belongs to (its own id for a sandbox's root). */
  get sandboxId(): string { return this.record.sandbox ?? this.record.id; }
  get isSandboxRoot(): boolean { return this.record.sandbox === undefined; }
  get address(): string { return containerAddress(this.id); }
  get initAddress(): string { return this.init.address; }
  get status(): ContainerStatus { return containerStatus(this.container.getSnapshot()); }
  get exitStatus(): number | null { return this.container.getSnapshot().context.exitStatus; }
  get pid(): number | null { return this.monitor.monitorPid; }

  /** Serialize work behind every earlier operation on this container, in its mailbox (`type`: what `debug --stacks` calls it). */
  enqueue<T>(op: () => Promise<T> | T, type = 'operation'): Promise<T> {
    return this.mailbox.enqueue(type, () => { this.followUnmonitored(); return op(); }, 'registry');
  }

  /** An operation, queued for its turn: one event to the machine, answered by its outcome. */
  operate<T = unknown>(event: ContainerEvent): Promise<T> {
    return this.enqueue(() => this.decide<T>(event), event.type);
  }

  /** An operation whose turn has come (a message the mailbox is handling). */
  private turn<T = unknown>(event: ContainerEvent): Promise<T> {
    this.followUnmonitored();
    return this.decide<T>(event);
  }

  /** Send an operation now (its turn has come): the machine refuses it, or settles it with an outcome. */
  private decide<T>(event: ContainerEvent): Promise<T> {
    const snap = this.container.getSnapshot();
    const r = snap.status === 'active' ? refusal(snap, event) : { code: 'not_exist', message: 'container does not exist' };
    if (r) return Promise.reject(new RunaError(r.code, r.message));
    const seq = snap.context.seq;
    const outcome = new Promise<Outcome>((resolve) => {
      const check = (s: ContainerSnapshot) => {
        const o = s.context.outcome;
        if (o && o.seq > seq && isSettled(s)) { sub.unsubscribe(); resolve(o); }
      };
      const sub = this.container.subscribe(check);
      check(this.container.getSnapshot());
    });
    this.container.send(event);
    return outcome.then((o) => {
      if (o.ok) return o.value as T;
      throw this.errors.get(o.seq) ?? new RunaError(o.code, o.message);
    }).finally(() => this.errors.delete(seq + 1));
  }

  /** The errors effects threw, by operation, so that the caller gets the error itself. */
  private readonly errors = new Map<number, unknown>();

  /** Run an effect the machine invoked (`owners`). */
  async perform(key: keyof ContainerEffects, input: unknown): Promise<unknown> {
    const ticket = this.container.getSnapshot().context.seq;
    this.running.set(ticket, { effect: key, ticket, since: performance.now() });
    try {
      return await (this.effects[key] as (i: unknown) => unknown)(input);
    } catch (e) {
      this.errors.set(ticket, e);
      throw e;
    } finally {
      this.running.delete(ticket);
    }
  }

  // ---- what follows the machine ----

  private last: ContainerSnapshot;
  private cause = 'state';
  private persistHeld = false;
  private leaveCreating: Array<() => void> = [];

  /** Every change of the machine: companions, sandbox, history, waiters and the state on disk follow. */
  private changed(after: ContainerSnapshot): void {
    const before = this.last;
    this.last = after;
    const was = containerStatus(before);
    const now = containerStatus(after);
    if (was === 'creating' && now !== 'creating') for (const fn of this.leaveCreating.splice(0)) fn();
    if (before.context.exitStatus === null && after.context.exitStatus !== null) for (const w of this.stoppedWaiters.splice(0)) w(after.context.exitStatus);
    if (containerState(before) !== containerState(after)) {
      this.history.push({ actor: this.address, kind: 'transition', type: this.cause, from: containerState(before), to: containerState(after), value: after.value, context: after.context });
    }
    if (was !== now) {
      this.syncCompanions();
      this.tellSandbox(now);
    }
    if (now === 'deleted') { this.finish(); return; }
    if (persistedKey(before) !== persistedKey(after)) this.persist();
  }

  /**
   * The companions (init and exec'd processes, gofer) follow the container's state;
   * each takes only the events its own machine allows from where it is.
   */
  private syncCompanions(): void {
    const s = this.status;
    const gofer = (type: 'gofer.serve' | 'gofer.pause' | 'gofer.resume') => this.bus.tell({ type, from: this.address, to: goferAddress(this.id) });
    if (s === 'created') gofer('gofer.serve');
    if (s === 'running') gofer('gofer.resume');
    if (s === 'paused') gofer('gofer.pause');
    for (const p of [this.init, ...[...this.execs.values()].map((e) => e.process)]) {
      this.bus.tell({ type: 'process.follow', from: this.address, to: p.address, status: s, pid: p === this.init ? this.monitor.initPid : null, exitStatus: this.exitStatus });
    }
  }

  /** Tell the sandbox where this container is now; a root's sandbox brings its members along. */
  private tellSandbox(status: ContainerStatus): void {
    if (status === 'deleted') return; // finish() says it, once everything is gone
    this.sandboxSettled = this.bus.request({
      type: 'member.status', from: this.address, to: sandboxAddress(this.sandboxId), id: this.id, status, exitStatus: this.exitStatus,
    }).catch(() => undefined);
  }

  /** Orders from the sandbox, in turn with the container's operations; facts from its processes, at once. */
  private handlers() {
    const order = <T>(type: 'sandbox.stop' | 'sandbox.pause' | 'sandbox.resume', otherwise: T) => async (): Promise<T> => {
      await undefined; // begun a microtask later, never inside its sender's call
      this.followUnmonitored();
      if (refusal(this.container.getSnapshot(), { type })) return otherwise;
      return this.decide<T>({ type });
    };
    return {
      // The client's operations, from the daemon's router: each in its turn, one event to the machine.
      'container.created': (m: { monitorPid: number; initPid: number; start?: boolean }) => this.onCreated(m.monitorPid, m.initPid, m.start ?? false),
      'container.createFailed': async () => { if (this.status === 'creating') await this.turn({ type: 'container.delete', force: true }); },
      'container.hooks': (m: { kind: HookKind; childPid: number }) => this.turn<void>({ type: 'container.hooks', kind: m.kind, childPid: m.childPid }),
      'container.start': () => this.turn<void>({ type: 'container.start' }),
      'container.exec': (m: { process: ExecRequest['overrides']; consoleSocket?: string; supervised?: boolean; ignorePaused?: boolean; cgroups?: string[]; pidfdSocket?: string }) => this.turn<{ execId: string; plan: string }>({
        type: 'container.exec', ignorePaused: m.ignorePaused ?? false,
        request: { overrides: m.process, consoleSocket: m.consoleSocket, supervised: m.supervised, cgroups: m.cgroups, pidfdSocket: m.pidfdSocket } satisfies ExecRequest,
      }),
      'exec.started': (m: { execId: string; monitorPid: number }) => this.openExec(m.execId, m.monitorPid),
      'exec.failed': { concurrent: true, handle: (m: { execId: string }) => this.execGone(m.execId) },
      'container.kill': (m: { signal: number; all?: boolean; pid?: number }) => this.turn<void>({ type: 'container.kill', signal: m.signal, all: m.all ?? false, ...(m.pid !== undefined ? { pid: m.pid } : {}) }),
      'container.delete': async (m: { force?: boolean }) => (await this.turn<{ warnings: string[] } | undefined>({ type: 'container.delete', force: m.force ?? false })) ?? { warnings: [] },
      'container.pause': async () => {
        await this.turn({ type: 'container.pause' });
        // A root's pause is its sandbox's: it returns once every member is paused too.
        await this.sandboxSettled;
      },
      'container.resume': async () => {
        await this.turn({ type: 'container.resume' });
        await this.sandboxSettled;
      },
      'container.checkpoint': (m: { options: unknown }) => this.turn<void>({ type: 'container.checkpoint', options: m.options }),
      'container.update': (m: { resources: unknown }) => {
        const r = LinuxResourcesSchema.safeParse(m.resources);
        if (!r.success) throw new RunaError('invalid_argument', `resources: ${describeIssues(r.error)}`);
        return this.turn<{ warnings: string[] }>({ type: 'container.update', resources: r.data });
      },
      // Reads and waits: answered as they arrive, beside the operation in its turn.
      'container.wait': { concurrent: true, handle: () => this.wait() },
      'container.waitPid': { concurrent: true, handle: (m: { pid: number }) => this.pidWaits.wait(m.pid) },
      'container.stats': { concurrent: true, handle: () => statsEvent(this.id, this.stats()) as never }, // the wire's form (decimal strings), which the schema reads
      'container.state': { concurrent: true, handle: () => this.state() },
      'container.file': { concurrent: true, handle: (m: { request: FileRequest }) => this.file(m.request) as never },
      // Facts from its processes, applied at once (an operation may be waiting for them).
      'process.started': { concurrent: true, handle: (m: { name: string }) => { if (m.name === 'init') this.fact({ type: 'process.started' }); } },
      'process.exited': { concurrent: true, handle: (m: { name: string; exitStatus: number }) => { if (m.name === 'init') this.exited(m.exitStatus); else this.pidWaits.exit(this.execPid(m.name), m.exitStatus); } },
      'process.lost': {
        concurrent: true,
        handle: (m: { name: string }) => {
          if (m.name === 'init') this.initLost();
          else this.execGone(m.name);
        },
      },
      'order.stop': async () => { await order('sandbox.stop', undefined)(); },
      'order.pause': async () => (await order('sandbox.pause', false)()) === true,
      'order.resume': async () => (await order('sandbox.resume', false)()) === true,
    } as const;
  }

  /** A fact the machine takes where it applies. */
  private fact(event: ContainerEvent): void {
    const snap = this.container.getSnapshot();
    if (snap.status === 'active' && snap.can(event)) this.container.send(event);
  }

  /** The init exited: a fact, applied at once, even while an operation waits for it. */
  exited(exitStatus: number): void {
    this.fact({ type: 'process.exited', exitStatus });
  }

  persist(): void {
    if (this.gone || this.persistHeld) return;
    const status = this.status;
    if (status === 'deleted') return;
    const m = this.monitor;
    const snapshot = this.container.getPersistedSnapshot() as unknown as { value: unknown; context: Record<string, unknown>; children?: unknown };
    const state: PersistedContainer = {
      schemaVersion: SCHEMA_VERSION,
      ociVersion: this.record.ociVersion,
      id: this.id,
      bundle: this.record.bundle,
      rootfs: this.record.rootfs,
      created: this.record.created,
      owner: this.record.owner,
      annotations: this.record.annotations,
      status,
      monitorPid: m.monitorPid,
      monitorStartTime: m.monitorStartTime,
      initPid: m.initPid,
      supervised: this.record.supervised,
      sandbox: this.record.sandbox,
      ...(this.record.noNewKeyring ? { noNewKeyring: true } : {}),
      ...(this.record.rdt ? { rdt: this.record.rdt } : {}),
      initStartTime: m.initStartTime,
      exitStatus: this.exitStatus,
      cgroup: this.record.cgroup,
      // Settled as the OCI status says (an effect in flight is not restored: it would run again), and
      // without its outcome (an answer to a caller, not state).
      snapshot: isSettled(this.container.getSnapshot())
        ? { ...snapshot, context: { ...snapshot.context, outcome: null } }
        : { ...snapshot, value: status === 'creating' ? { creating: 'idle' } : status, children: {}, context: { ...snapshot.context, settled: status === 'creating' ? 'creating' : status, outcome: null } },
    };
    writeState(this.record.stateDir, state);
  }

  /** Keep a companion machine's changes of state in this container's history. */
  track(actor: AnyActor, address: string): void {
    let last = String(actor.getSnapshot().value);
    actor.subscribe((s: { value: unknown; context: unknown }) => {
      const now = String(s.value);
      if (now !== last) this.history.push({ actor: address, kind: 'transition', type: 'state', from: last, to: now, value: s.value, context: s.context });
      last = now;
    });
  }

  /** `runa debug`: the container's actors, their states and contexts, and its monitor. */
  debugInfo() {
    const machine = (address: string, a: AnyActor) => { const s = a.getSnapshot(); return { address, value: String(s.value), context: s.context }; };
    const m = this.monitor;
    return {
      container: { address: this.address, value: containerState(this.container.getSnapshot()), context: shown(this.container.getSnapshot()), monitorPid: m.monitorPid, initPid: m.initPid, linked: m.linked, supervised: Boolean(this.record.supervised) },
      processes: [machine(this.init.address, this.init.actor), ...[...this.execs.values()].map((e) => machine(e.process.address, e.process.actor))],
      gofer: machine(goferAddress(this.id), this.gofer.actor),
      status: this.status,
    };
  }

  /**
   * `runa debug --stacks`: what its actors are doing now: effects invoked and not answered
   * (by operation, with their age), monitor requests in flight, and every child actor still active.
   */
  activity() {
    const now = performance.now();
    const effects = [...this.running.values()].map((r) => ({ actor: this.address, effect: r.effect, ticket: r.ticket, state: 'running' as const, ms: Math.round(now - r.since) }));
    const processes: Array<[string, ProcessActor]> = [[this.init.address, this.init], ...[...this.execs.values()].map((e): [string, ProcessActor] => [e.process.address, e.process])];
    for (const [address, p] of processes) for (const f of p.inFlight()) effects.push({ actor: address, ...f } as never);
    const children: Array<{ actor: string; src: string; sessionId: string }> = [];
    const actors: Array<[string, AnyActor]> = [[this.address, this.container], [goferAddress(this.id), this.gofer.actor], ...processes.map(([a, p]): [string, AnyActor] => [a, p.actor])];
    for (const [address, actor] of actors) {
      const kids = (actor.getSnapshot() as { children?: Record<string, AnyActor | undefined> }).children ?? {};
      for (const child of Object.values(kids)) {
        if (child && child.getSnapshot().status === 'active') children.push({ actor: address, src: String((child as { src?: unknown }).src ?? child.id), sessionId: child.sessionId });
      }
    }
    return { effects, children };
  }

  onLeaveCreating(fn: () => void): void {
    if (this.status === 'creating') this.leaveCreating.push(fn);
    else fn();
  }

  state() {
    const status = this.status;
    return ociState({ ...this.record, initPid: this.monitor.initPid }, status === 'deleted' ? 'stopped' : (status as Status));
  }

  // ---- operations (each one event to the machine) ----

  /** nsinit reported `created`: attach to its monitor; `start` (run): the start follows, and its state write is the only one. */
  private async onCreated(monitorPid: number, initPid: number, start: boolean): Promise<void> {
    this.persistHeld = start;
    try {
      await this.turn({ type: 'container.created', monitorPid, initPid });
    } finally {
      this.persistHeld = false;
    }
    if (!start) return;
    try {
      await this.turn({ type: 'container.start' });
    } catch (e) {
      if (this.status === 'created') this.persist();
      throw e;
    }
  }

  /** A create whose CLI vanished, or one a daemon died in: kept if its monitor is there and waiting, else rolled back. */
  settleCreating(): Promise<void> {
    return this.enqueue(async () => {
      if (this.status !== 'creating') return;
      try {
        await this.decide({ type: 'container.created', monitorPid: null });
      } catch {
        await this.decide({ type: 'container.delete', force: true });
        process.stderr.write(`runa: rolled back the create of ${JSON.stringify(this.id)}: its monitor is gone\n`);
      }
    }, 'container.settle');
  }

  start(): Promise<void> { return this.operate({ type: 'container.start' }); }
  kill(signal: number, all = false, pid?: number): Promise<void> { return this.operate({ type: 'container.kill', signal, all, ...(pid !== undefined ? { pid } : {}) }); }
  async pause(): Promise<void> {
    await this.operate({ type: 'container.pause' });
    // A root's pause is its sandbox's: it returns once every member is paused too.
    await this.sandboxSettled;
  }
  async resume(): Promise<void> {
    await this.operate({ type: 'container.resume' });
    await this.sandboxSettled;
  }
  checkpoint(options: unknown): Promise<void> { return this.operate({ type: 'container.checkpoint', options }); }
  update(resources: unknown): Promise<{ warnings: string[] }> { return this.operate({ type: 'container.update', resources }); }
  async delete(force = false): Promise<{ warnings: string[] }> {
    return (await this.operate<{ warnings: string[] } | undefined>({ type: 'container.delete', force })) ?? { warnings: [] };
  }

  stats() {
    const r = refusal(this.container.getSnapshot(), { type: 'container.stats' });
    if (r) throw new RunaError(r.code, r.message);
    // No cgroup (rootless without delegation): runc's zeroed stats.
    return this.cgroup()?.stats() ?? emptyStats();
  }

  oomCount(): number {
    return this.cgroup()?.oomCount() ?? 0;
  }

  wait(): Promise<number> {
    const exit = this.exitStatus;
    if (exit !== null || this.status === 'deleted') return Promise.resolve(exit ?? 0);
    return new Promise((resolve) => this.stoppedWaiters.push(resolve));
  }

  // ---- exec'd processes ----

  addExec(execId: string, dir: string): ProcessActor {
    const process = new ProcessActor(this.id, execId, 'exec', { bus: this.bus, watch: this.opts.watch });
    this.track(process.actor, process.address);
    this.execs.set(execId, { process, dir });
    return process;
  }

  /** The exec'd process's monitor is up: open its gate and follow it until it exits. */
  private async openExec(execId: string, monitorPid: number): Promise<void> {
    killPoint('exec:spawned'); // nsinit is up on the caller's side; the daemon has not heard it yet
    const ex = this.execs.get(execId);
    if (!ex) throw new RunaError('not_exist', `no exec ${execId} in container ${JSON.stringify(this.id)}`);
    // Its Process actor holds the monitor link; the link's end (process.lost) ends the exec.
    const to = ex.process.address;
    await this.bus.request({ type: 'process.attach', from: this.address, to, socket: monitorSocket(ex.dir), expectedPid: monitorPid });
    const r = await this.bus.request({ type: 'process.gate', from: this.address, to });
    if (r.type === 'process.failed') throw new RunaError('exec_failed', `exec failed: ${r.message}`);
  }

  private execGone(execId: string): void {
    const ex = this.execs.get(execId);
    if (!ex) return;
    this.execs.delete(execId);
    ex.process.stop();
    removeStateDir(ex.dir);
  }

  /**
   * A file operation on the container's filesystem, served by its gofer: inside the live
   * container's root (its mounts and overlay included) while it has one, else in the bundle's
   * rootfs. Not queued behind operations: a write held by the gofer while the container is
   * paused must not keep `resume` waiting.
   */
  file(request: FileRequest): Promise<unknown> {
    const live = this.status === 'created' || this.status === 'running' || this.status === 'paused';
    const root = live && this.monitor.initPid !== null ? `/proc/${this.monitor.initPid}/root` : this.record.rootfs;
    return this.bus.request({ type: 'gofer.file', from: this.address, to: goferAddress(this.id), request, root });
  }

  /** The machine of the init or of an exec'd process, for the inspector. */
  processRef(name: string) {
    return name === 'init' ? this.init.actor : this.execs.get(name)?.process.actor;
  }

  // ---- the monitor ----

  /** Attach to the monitor a restarted daemon finds (adoption): the monitor's word. */
  async adoptMonitor(expectedPid: number | null): Promise<'created' | 'running'> {
    return (await attach(this, expectedPid)).state;
  }

  /** The program runs, by the monitor's word (a start that happened just before a daemon died). */
  startedMeanwhile(): void {
    this.fact({ type: 'process.started' });
  }

  /** The init's monitor link closed. The monitor writes the exit record before it goes; without one it was killed. */
  private initLost(): void {
    if (!this.monitor.linked) return;
    this.monitor.linked = false;
    const exit = readExit(this.record.stateDir);
    if (exit) this.exited(exit.exitStatus);
    else if (processAlive(this.monitor.monitorPid, this.monitor.monitorStartTime)) this.awaitMonitorEnd(0);
    else this.monitorLost();
  }

  /**
   * The link was dropped while its monitor lives on (one that broke its protocol, or a monitor
   * still on its way out): its word comes when it ends, from the exit record it writes then,
   * rather than a guess now. Checked every 25 ms for a second, then every 250 ms.
   */
  private awaitMonitorEnd(tick: number): void {
    setTimeout(() => {
      if (this.gone || this.monitor.linked) return;
      if (processAlive(this.monitor.monitorPid, this.monitor.monitorStartTime)) { this.awaitMonitorEnd(tick + 1); return; }
      const exit = readExit(this.record.stateDir);
      if (exit) this.exited(exit.exitStatus);
      else this.monitorLost();
    }, tick < 40 ? 25 : 250).unref();
  }

  /**
   * The monitor is gone without an exit record (killed). Its own child died with it (pdeathsig):
   * status 137. A supervised init is the caller's and lives on: it is followed by pid and start
   * time until it is gone, and signalled directly.
   */
  monitorLost(): void {
    if (!this.record.supervised || !processAlive(this.monitor.initPid, this.monitor.initStartTime)) {
      this.exited(this.record.supervised ? -1 : LOST_MONITOR_STATUS);
      return;
    }
    this.unmonitored = true;
    const timer = setInterval(() => {
      if (this.gone || !this.followUnmonitored()) clearInterval(timer);
    }, 250);
    timer.unref();
  }

  /** A supervised init with no monitor: is it still there? Its end is applied at once (before any operation too). */
  private unmonitored = false;
  private followUnmonitored(): boolean {
    if (!this.unmonitored || this.monitor.linked) return false;
    if (processAlive(this.monitor.initPid, this.monitor.initStartTime)) return true;
    this.unmonitored = false;
    this.exited(-1);
    return false;
  }

  // ---- the host side ----

  private cg: Cgroup | null = null;
  /** The container's cgroup (opened lazily; null for containers without one). */
  cgroup(): Cgroup | null {
    if (!this.cg && this.record.cgroup) {
      const { path: cgPath, createdDirs, usedDirs } = this.record.cgroup;
      this.cg = Cgroup.open(hostCgroups().layout, cgPath, { createdDirs, ...(usedDirs ? { usedDirs } : {}) });
    }
    return this.cg;
  }

  /** `why`: the refusal when there is none (a rootless container without delegation has none). */
  requireCgroup(why = `container ${JSON.stringify(this.id)} has no cgroup`): Cgroup {
    const cg = this.cgroup();
    if (!cg) throw new RunaError('no_cgroup', why);
    return cg;
  }

  /**
   * Whether the config has hooks of this kind. None is the usual case: then no hook runs (and
   * no OCI state is built for them).
   */
  hasHooks(kind: string): boolean {
    const hooks = (this.spec().hooks as Record<string, unknown> | undefined)?.[kind];
    return Array.isArray(hooks) && hooks.length > 0;
  }

  /** The config.json this container was created with (kept in its state dir). */
  spec(): Spec {
    this.specCache ??= parseSpecText(fs.readFileSync(path.join(this.record.stateDir, 'config.json'), 'utf8')) as Spec;
    return this.specCache;
  }
  setSpec(spec: Spec): void { this.specCache = spec; }
  private specCache: Spec | null = null;

  /** The container's processes are let go of (teardown): its monitor link, its exec'd processes. */
  release(): void {
    this.monitor.linked = false;
    this.init.stop(); // lets go of the monitor: no fact follows
    for (const id of [...this.execs.keys()]) this.execGone(id);
    this.pidWaits.close();
  }

  /** Deleted: its actors stop, its address goes, its sandbox counts it out. */
  private finish(): void {
    if (this.gone) return;
    this.gone = true;
    for (const fn of this.leaveCreating.splice(0)) fn();
    this.release();
    this.gofer.stop();
    this.mailbox.close();
    queueMicrotask(() => { owners.delete(this.container.system); });
    // The sandbox counts its containers down: its root's going, or a member leaving.
    const to = sandboxAddress(this.sandboxId);
    if (this.isSandboxRoot) this.bus.tell({ type: 'member.status', from: this.address, to, id: this.id, status: 'deleted', exitStatus: this.exitStatus });
    else this.bus.tell({ type: 'member.left', from: this.address, to, id: this.id });
    this.opts.onGone?.(this.id);
  }

  /** Forget a container whose create failed before anything but its record was made. */
  discard(): void {
    this.gone = true;
    this.mailbox.close();
    this.gofer.stop();
    this.init.stop();
    this.container.stop();
  }
}

/** The context as `runa debug` shows it: what the container keeps, not the bookkeeping of its operations. */
function shown(s: ContainerSnapshot) {
  const { id, exitStatus, pendingSignals } = s.context;
  return { id, exitStatus, pendingSignals };
}

/**
 * What of a snapshot is worth a state write: a change of the OCI status (an in-between state's
 * too: a program that started while its start's poststart hooks run is running) or of what the
 * context keeps; not a kill in running, not an operation's bookkeeping.
 */
function persistedKey(s: ContainerSnapshot): string {
  const c = s.context;
  return JSON.stringify([containerStatus(s), c.exitStatus, c.pendingSignals, c.programStarted, c.followed]);
}

/**
 * A persisted snapshot as this machine restores it: one written by an older runa has a flat
 * `creating` and fewer context fields.
 */
function restorable(snapshot: unknown): unknown {
  const s = snapshot as { value: unknown; context: Record<string, unknown> };
  const status = typeof s.value === 'string' ? s.value : Object.keys(s.value as object)[0];
  const settled = status === 'creating' ? 'creating' : status === 'deleted' ? 'stopped' : status;
  return {
    ...s,
    value: s.value === 'creating' ? { creating: 'idle' } : s.value,
    context: { settled, programStarted: status === 'running', followed: null, seq: 0, ...s.context, outcome: null },
  };
}
