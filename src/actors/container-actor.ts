// One container as a root actor: its machine (which drives its own lifecycle and invokes its
// effects by key), its init and exec'd processes, its gofer and its mailbox. An operation is
// one event to the machine, in the mailbox's turn: the machine refuses it or settles it, and
// its outcome is the reply. Facts from the monitor (the init started, exited) apply at once.
import { createActor, type Actor, type AnyActor } from 'xstate';
import { outcomeAfter, performKept, providedByOwner } from './invoked.js';
import {
  containerMachine, containerState, containerStatus, isSettled, refusal, CONTAINER_EFFECT_KEYS,
  type ContainerEvent, type ContainerSnapshot, type ContainerStatus,
} from '../machines/index.js';
import { ProcessActor } from './process-actor.js';
import { PidWaits } from './pid-waits.js';
import { History } from './history.js';
import { containerAddress, sandboxAddress } from './sandbox-actor.js';
import type { ActorBus, FileRequest, Mailbox } from './actor-bus.js';
import { RunaError } from '../errors.js';
import type { Spec } from '../oci/spec.js';
import { emptyStats, type Cgroup } from '../cgroups/index.js';
import { ContainerFiles } from './container-files.js';
import { ContainerExecs } from './container-execs.js';
import { fileOperation, tellCompanions, tellSandbox } from './container-companions.js';
import { GoferActor, goferAddress } from './gofer-actor.js';
import { ociState, writeState, type Status } from '../state.js';
import { persistedChanged, persistedState, restorable } from './container-persist.js';
import { containerHandlers } from './container-handlers.js';
import { activity, debugInfo, valueName, type ContainerView } from './container-view.js';
import { InitWatch } from './container-monitor.js';
import type { Watch } from './inspection.js';
import { runaEffects, attach, type ContainerEffects, type EffectHost, type MonitorFacts } from './container-effects.js';
import type { ContainerRecord } from './container-record.js';

export type { ContainerRecord } from './container-record.js';
export { cgroupDirs, execCgroupDirs } from './container-cgroups.js';
export type { ContainerEffects } from './container-effects.js';

export { LOST_MONITOR_STATUS } from './container-monitor.js';

/** The container machine with runa's effects provided once per daemon (src/actors/invoked.ts). */
const provided = providedByOwner(containerMachine, CONTAINER_EFFECT_KEYS);

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
  /** Its exec'd processes (src/actors/container-execs.ts). */
  private readonly execs: ContainerExecs = new ContainerExecs(this);
  /** `wait --pid`: its init's and exec'd processes' exits by host pid (src/actors/pid-waits.ts) */
  readonly pidWaits = new PidWaits({
    id: () => this.id, initPid: () => this.monitor.initPid, waitInit: () => this.wait(), execPids: () => this.execs.pids(),
  });
  execPid(name: string): number | null { return this.execs.pid(name); }
  /** What happened to this container's actors lately (`runa debug --events`). */
  readonly history: History;
  /** The sandbox has followed this container's last change (for a root: pause, resume, stop of every member). */
  sandboxSettled: Promise<unknown> = Promise.resolve();
  private gone = false;
  private readonly files: ContainerFiles;

  constructor(readonly record: ContainerRecord, private readonly opts: ContainerActorOptions) {
    this.bus = opts.bus;
    this.history = opts.history ?? new History();
    this.files = new ContainerFiles(record, opts.spec ?? null);
    if (opts.monitor) {
      Object.assign(this.monitor, { monitorPid: opts.monitor.pid, monitorStartTime: opts.monitor.startTime, initPid: opts.monitor.initPid, initStartTime: opts.monitor.initStartTime ?? null });
    }
    this.effects = { ...runaEffects(this), ...opts.effects } as ContainerEffects;
    this.watch = new InitWatch(record, this.monitor, { exited: (status) => this.exited(status), gone: () => this.gone });
    this.container = createActor(provided.machine, {
      input: { id: record.id },
      ...(opts.snapshot ? { snapshot: restorable(opts.snapshot) as never } : {}),
      // What each transition was caused by, for the history: the event the machine took.
      inspect: (ev) => { if (ev.type === '@xstate.event' && ev.actorRef === this.container) this.cause = ev.event.type; },
    });
    provided.own(this.container, this);
    this.init = new ProcessActor(record.id, 'init', 'init', { bus: opts.bus, watch: opts.watch });
    this.gofer = opts.gofer ?? new GoferActor(record.id, record.stateDir, record.rootfs, { bus: opts.bus, watch: opts.watch });
    this.last = this.container.getSnapshot();
    this.container.subscribe((s) => this.changed(s));
    this.container.start();
    opts.watch?.(this.container, this.address, sandboxAddress(this.sandboxId));
    this.track(this.init.actor, this.init.address);
    this.track(this.gofer.actor, goferAddress(record.id));
    tellCompanions(this);
    this.mailbox = opts.bus.register(this.address, containerHandlers(this));
  }

  get id(): string { return this.record.id; }
  /** The sandbox this container belongs to (its own id for a sandbox's root). */
  get sandboxId(): string { return this.record.sandbox ?? this.record.id; }
  get isSandboxRoot(): boolean { return this.record.sandbox === undefined; }
  get address(): string { return containerAddress(this.id); }
  get initAddress(): string { return this.init.address; }
  get status(): ContainerStatus { return containerStatus(this.container.getSnapshot()); }
  get exitStatus(): number | null { return this.container.getSnapshot().context.exitStatus; }

  /** Serialize work behind every earlier operation on this container, in its mailbox (`type`: what `debug --stacks` calls it). */
  enqueue<T>(op: () => Promise<T> | T, type = 'operation'): Promise<T> {
    return this.mailbox.enqueue(type, () => { this.followUnmonitored(); return op(); }, 'registry');
  }

  /** An operation, queued for its turn: one event to the machine, answered by its outcome. */
  operate<T = unknown>(event: ContainerEvent): Promise<T> {
    return this.enqueue(() => this.decide<T>(event), event.type);
  }

  /** An operation whose turn has come (a message the mailbox is handling). */
  turn<T = unknown>(event: ContainerEvent): Promise<T> {
    this.followUnmonitored();
    return this.decide<T>(event);
  }

  /** Send an operation now (its turn has come): the machine refuses it, or settles it with an outcome. */
  decide<T>(event: ContainerEvent): Promise<T> {
    const snap = this.container.getSnapshot();
    const r = snap.status === 'active' ? refusal(snap, event) : { code: 'not_exist', message: 'container does not exist' };
    if (r) return Promise.reject(new RunaError(r.code, r.message));
    this.changeError = null;
    const answer = outcomeAfter<T>(this.container, snap.context.seq, (s) => isSettled(s as ContainerSnapshot), this.errors);
    this.container.send(event);
    return answer.then((v) => {
      const e = this.changeError;
      this.changeError = null;
      if (e) throw e; // its state could not be written, or its companions told
      return v;
    });
  }

  /** The errors effects threw, by operation, so that the caller gets the error itself. */
  private readonly errors = new Map<number, unknown>();

  /** Run an effect the machine invoked (src/actors/invoked.ts). */
  perform(key: string, input: unknown): Promise<unknown> {
    return performKept(key, this.container.getSnapshot().context.seq, () => (this.effects[key as keyof ContainerEffects] as (i: unknown) => unknown)(input), this.running, this.errors);
  }

  // ---- what follows the machine ----

  private last: ContainerSnapshot;
  private cause = 'state';
  private persistHeld = false;
  private leaveCreating: Array<() => void> = [];

  /** Every change of the machine: companions, sandbox, history, waiters and the state on disk follow. */
  private changed(after: ContainerSnapshot): void {
    // An error here would be thrown inside the machine's notification (and end the daemon): it
    // is kept, said, and given to the operation in progress instead (decide).
    try {
      this.follow(after);
    } catch (e) {
      this.changeError ??= e;
      process.stderr.write(`runa: container ${JSON.stringify(this.id)}: ${(e as Error).message}\n`);
    }
  }
  private changeError: unknown = null;

  private follow(after: ContainerSnapshot): void {
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
      tellCompanions(this);
      // finish() tells the sandbox of a deletion, once everything is gone
      if (now !== 'deleted') this.sandboxSettled = tellSandbox(this, now);
    }
    if (now === 'deleted') { this.finish(); return; }
    if (persistedChanged(before, after)) this.persist();
  }

  /** A fact the machine takes where it applies. */
  fact(event: ContainerEvent): void {
    const snap = this.container.getSnapshot();
    if (snap.status === 'active' && snap.can(event)) this.container.send(event);
  }

  /** The init exited: a fact, applied at once, even while an operation waits for it. */
  exited(exitStatus: number): void {
    this.fact({ type: 'process.exited', exitStatus });
  }

  persist(): void {
    if (this.gone || this.persistHeld || this.status === 'deleted') return;
    writeState(this.record.stateDir, persistedState(this.record, this.monitor, this.container.getSnapshot(), this.container.getPersistedSnapshot()));
  }

  /** Keep a companion machine's changes of state in this container's history. */
  track(actor: AnyActor, address: string): void {
    let last = valueName(actor.getSnapshot().value);
    actor.subscribe((s: { value: unknown; context: unknown }) => {
      const now = valueName(s.value);
      if (now !== last) this.history.push({ actor: address, kind: 'transition', type: 'state', from: last, to: now, value: s.value, context: s.context });
      last = now;
    });
  }

  /** `runa debug`: the container's actors, their states and contexts, and its monitor. */
  debugInfo() { return debugInfo(this.view()); }

  /** `runa debug --stacks`: what its actors are doing now. */
  activity() { return activity(this.view()); }

  private view(): ContainerView {
    return { address: this.address, id: this.id, status: this.status, container: this.container, monitor: this.monitor, supervised: Boolean(this.record.supervised), init: this.init, gofer: this.gofer, execs: this.execs.processes(), running: [...this.running.values()] };
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

  /** run, and nothing must happen between create and start: nsinit opens the gate itself (`--start`). */
  startsAtOnce = false;

  /** nsinit reported `created`: attach to its monitor; `start` (run): the start follows, and its state write is the only one. */
  async onCreated(monitorPid: number, initPid: number, start: boolean): Promise<void> {
    // nsinit starts the program itself (`--start`): the monitor's hello says running (or why it
    // did not start), and the created turn is the one that writes the state.
    const atOnce = start && this.startsAtOnce;
    this.persistHeld = start && !atOnce;
    try {
      await this.turn({ type: 'container.created', monitorPid, initPid });
    } finally {
      this.persistHeld = false;
    }
    const why = this.monitor.startError;
    if (atOnce && why !== undefined) throw new RunaError('start_failed', `starting container process: ${why}`);
    // Not to be started, or nsinit started it (running, or already stopped).
    if (!start || (atOnce && this.status !== 'created')) return;
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

  // ---- exec'd processes (src/actors/container-execs.ts) ----

  addExec(execId: string, dir: string): ProcessActor { return this.execs.add(execId, dir); }
  openExec(execId: string, monitorPid: number): Promise<void> { return this.execs.open(execId, monitorPid); }
  execGone(execId: string): void { this.execs.gone(execId); }
  get watcher(): Watch | undefined { return this.opts.watch; }

  /**
   * A file operation on the container's filesystem, served by its gofer, where its machine says
   * (src/actors/container-companions.ts). Not queued behind operations: a write held by the
   * gofer while the container is paused must not keep `resume` waiting.
   */
  file(request: FileRequest): Promise<unknown> { return fileOperation(this, request); }

  execProcesses(): ProcessActor[] { return this.execs.processes(); }

  /** The machine of the init or of an exec'd process, for the inspector. */
  processRef(name: string) {
    return name === 'init' ? this.init.actor : this.execs.get(name)?.actor;
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

  // ---- the host side (src/actors/container-files.ts) ----

  cgroup(): Cgroup | null { return this.files.cgroup(); }
  requireCgroup(why?: string): Cgroup { return this.files.requireCgroup(why); }
  hasHooks(kind: string): boolean { return this.files.hasHooks(kind); }
  spec(): Spec { return this.files.spec(); }
  setSpec(spec: Spec): void { this.files.setSpec(spec); }

  /** The container's processes are let go of (teardown): its monitor link, its exec'd processes. */
  release(): void {
    this.monitor.linked = false;
    this.init.stop(); // lets go of the monitor: no fact follows
    this.execs.release();
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
    queueMicrotask(() => provided.disown(this.container));
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
    // Its gofer stops serving; whoever made it (the create) has it undo the files and lets it go.
    this.bus.tell({ type: 'gofer.stop', from: this.address, to: goferAddress(this.id) });
    this.init.stop();
    this.container.stop();
  }

  /** The init's monitor link closed: its word, or its loss (src/actors/container-monitor.ts). */
  initLost(): void { this.watch.lost(); }

  /** The monitor is gone without an exit record. */
  monitorLost(): void { this.watch.monitorLost(); }

  followUnmonitored(): boolean { return this.watch.follow(); }

  private readonly watch: InitWatch;
}

