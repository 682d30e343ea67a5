// One container as a root actor: its machines (container, init process, gofer),
// its monitor link and its mailbox. Operations are serialized by the mailbox; facts from
// the monitor (the init exited) apply at once.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createActor, type Actor, type AnyActor, type AnyActorRef } from 'xstate';
import { containerMachine, containerStatus, refusal, type ContainerEvent } from '../machines/container.js';
import { ProcessActor } from './process-actor.js';
import { TicketedEffects, providedOnce } from './effects.js';
import { History } from './history.js';
import { CONTAINER_EFFECTS, containerEffectsMachine, type ContainerEffect } from '../machines/container-effects.js';
import { containerAddress, sandboxAddress } from './sandbox-actor.js';
import type { ActorBus, FileRequest, Mailbox } from './actor-bus.js';
import { containerPids } from '../proc.js';
import { RunaError } from '../errors.js';
import { monitorSocket, planFile } from '../paths.js';
import { buildExecPlan, readExecHostFacts, sessionKeyring, type CgroupDirs } from '../oci/plan.js';
import { execProcess, parseSpecText, seccompLoad, stringifySpec, type Spec } from '../oci/spec.js';
import { criuDump } from './criu.js';
import { encodePlan } from '../nsinit/plan.js';
import type { CheckpointOptions, ExecOverrides } from '../bus/messages.js';
import { removeRdt } from '../cgroups/resctrl.js';
import { Cgroup, CANNOT_FREEZE, emptyStats, RUNC_DEFAULT_DEVICE_RULES, type LinuxResources } from '../cgroups/index.js';
import { rootlessEuid } from '../rootless.js';
import { hostCgroups } from '../cgroups/host.js';
import { GoferActor, goferAddress } from './gofer-actor.js';
import { runHooks, runHooksBestEffort } from '../hooks/index.js';
import { ociState, processAlive, processStartTime, readExit, removeStateDir, writeIntent, writeState, SCHEMA_VERSION, type PersistedContainer, type Status } from '../state.js';
import type { Watch } from './inspection.js';
import type { InFlight } from './effects.js';
import { killPoint } from '../faults.js';

/** Exit status recorded when a monitor vanished without writing one: its death SIGKILLs the init (pdeathsig). */
export const LOST_MONITOR_STATUS = 137;
const DELETE_KILL_TIMEOUT_MS = 10_000;

/** Every hierarchy's directory of a cgroup, split by who joins it (see CgroupDirs). */
export function cgroupDirs(cg: Cgroup, d: { v1: Record<string, string>; v2: string | null } = cg.dirs): CgroupDirs {
  const dirs: CgroupDirs = { monitor: [], child: [] };
  // The freezer would freeze the monitor with the container; pids would count it, and with
  // pids.limit 0 (a real limit) refuse the monitor's fork of the container's process.
  for (const [controller, dir] of Object.entries(d.v1)) (controller === 'freezer' || controller === 'pids' ? dirs.child : dirs.monitor).push(dir);
  if (d.v2) dirs.child.push(d.v2);
  return { monitor: [...new Set(dirs.monitor)], child: [...new Set(dirs.child)] };
}

/**
 * `exec --cgroup [controller[,controller…]:]path` (runc): the exec'd process goes to an existing
 * sub-cgroup of the container's, in the controllers named (v1 only) or in all of them.
 */
export function execCgroupDirs(cg: Cgroup, specs: string[]): CgroupDirs {
  const v1 = { ...cg.dirs.v1 };
  let v2 = cg.dirs.v2;
  for (const spec of specs) {
    const colon = spec.indexOf(':');
    const controllers = colon >= 0 ? spec.slice(0, colon).split(',') : null;
    const sub = colon >= 0 ? spec.slice(colon + 1) : spec;
    if (!sub || sub.split('/').includes('..')) throw new RunaError('invalid_argument', `exec --cgroup: ${JSON.stringify(sub)} is not a sub cgroup path`);
    if (controllers && !Object.keys(cg.dirs.v1).length) throw new RunaError('invalid_argument', `exec --cgroup ${JSON.stringify(spec)}: controllers can only be named on cgroup v1`);
    for (const c of controllers ?? Object.keys(cg.dirs.v1)) {
      if (!(c in cg.dirs.v1)) throw new RunaError('invalid_argument', `exec --cgroup ${JSON.stringify(spec)}: no ${c} controller in the container's cgroup`);
      v1[c] = path.join(cg.dirs.v1[c], sub);
    }
    if (!controllers && v2) v2 = path.join(v2, sub);
  }
  for (const dir of [...Object.values(v1), ...(v2 ? [v2] : [])]) {
    if (!fs.existsSync(dir)) throw new RunaError('invalid_argument', `exec --cgroup: cgroup ${dir} does not exist`);
  }
  return cgroupDirs(cg, { v1, v2 });
}

export interface ContainerRecord {
  id: string;
  stateDir: string;
  ociVersion: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  cgroup?: { path: string; createdDirs: string[]; usedDirs?: string[] };
  /** the caller supervises the init (--pid-file): see PlanInput.supervised */
  supervised?: boolean;
  /** the sandbox this container is a member of; absent for a sandbox's root (the sandbox id is its id) */
  sandbox?: string;
  /** created with --no-new-keyring: its processes keep their caller's session keyring */
  noNewKeyring?: boolean;
  /** linux.intelRdt: its class of service directory, and whether runa made it */
  rdt?: { dir: string; created: boolean };
}

/** The container's effects machine, with runa's effects provided once per daemon. */
const effectsMachine = providedOnce(containerEffectsMachine, [...CONTAINER_EFFECTS]);

/** What a container's effects do, by key (tests swap them). */
export type ContainerEffects = { [K in ContainerEffect['type']]: (req: Extract<ContainerEffect, { type: K }>) => unknown };

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

export class ContainerActor {
  readonly container: Actor<typeof containerMachine>;
  readonly init: ProcessActor;
  /** The container's effects, spawned by key by its effects machine. */
  readonly effectsActor: Actor<typeof containerEffectsMachine>;
  private readonly effects: TicketedEffects<ContainerEffect>;
  readonly gofer: GoferActor;
  /** Its mailbox on the actors' bus: messages and its operations, one at a time in order. */
  private readonly mailbox: Mailbox;
  /** The init's Process actor holds a live link to its monitor. */
  private linked = false;
  private monitorPid: number | null = null;
  private monitorStartTime: string | null = null;
  private initPid: number | null = null;
  private initStartTime: string | null = null;
  private stoppedWaiters: Array<(status: number) => void> = [];
  private readonly execs = new Map<string, { process: ProcessActor; dir: string }>();
  private deleted = false;

  private readonly unregister: () => void;
  /** What happened to this container's actors lately (`runa debug --events`). */
  readonly history: History;
  /** The sandbox has followed this container's last change (for a root: pause, resume, stop of every member). */
  private sandboxSettled: Promise<unknown> = Promise.resolve();

  constructor(readonly record: ContainerRecord, private readonly opts: ContainerActorOptions) {
    const watch = opts.watch;
    this.history = opts.history ?? new History();
    this.container = createActor(containerMachine, {
      input: { id: record.id },
      ...(opts.snapshot ? { snapshot: opts.snapshot as never } : {}),
    }).start();
    watch?.(this.container, this.address, sandboxAddress(this.sandboxId));
    this.effects = new TicketedEffects<ContainerEffect>({ ...this.realEffects(), ...opts.effects } as ContainerEffects);
    this.effectsActor = createActor(effectsMachine.machine());
    effectsMachine.register(this.effectsActor, this.effects);
    this.effectsActor.start();
    watch?.(this.effectsActor, `effects:${record.id}`, this.address);
    this.init = new ProcessActor(record.id, 'init', 'init', { bus: opts.bus, watch });
    this.specCache = opts.spec ?? null;
    this.gofer = opts.gofer ?? new GoferActor(record.id, record.stateDir, record.rootfs, { bus: opts.bus, watch, serving: true });
    if (opts.monitor) {
      this.monitorPid = opts.monitor.pid;
      this.monitorStartTime = opts.monitor.startTime;
      this.initPid = opts.monitor.initPid;
      this.initStartTime = opts.monitor.initStartTime ?? null;
    }
    this.track(this.init.actor, this.init.address);
    this.track(this.gofer.actor, goferAddress(record.id));
    this.syncCompanions();
    this.mailbox = opts.bus.register(containerAddress(record.id), this.handlers());
    this.unregister = () => this.mailbox.close();
  }

  get id(): string { return this.record.id; }
  /** The sandbox this container belongs to (its own id for a sandbox's root). */
  get sandboxId(): string { return this.record.sandbox ?? this.record.id; }
  get isSandboxRoot(): boolean { return this.record.sandbox === undefined; }
  private get address(): string { return containerAddress(this.id); }
  get status(): ReturnType<typeof containerStatus> { return containerStatus(this.container.getSnapshot()); }
  get exitStatus(): number | null { return this.container.getSnapshot().context.exitStatus; }
  get pid(): number | null { return this.monitorPid; }

  /** Serialize an operation behind every earlier one on this container, in its mailbox (`type`: what `debug --stacks` calls it). */
  enqueue<T>(op: () => Promise<T> | T, type = 'operation'): Promise<T> {
    return this.mailbox.enqueue(type, () => this.operate(op), 'registry');
  }

  /** The sandbox's order, in its turn: begun a microtask later (as an operation), never inside its sender's call. */
  private async order<T>(op: () => Promise<T> | T): Promise<T> {
    await undefined;
    return this.operate(op);
  }

  /** An operation's turn has come: a supervised init's end is applied first. */
  private operate<T>(op: () => Promise<T> | T): Promise<T> | T {
    this.followUnmonitored();
    return op();
  }

  private refuseUnless(event: ContainerEvent): void {
    const r = refusal(this.container.getSnapshot(), event);
    if (r) throw new RunaError(r.code, r.message);
  }

  /**
   * The companions (init and exec'd processes, gofer, sandbox) follow the container's state;
   * each takes only the events its own machine allows from where it is.
   */
  private syncCompanions(): void {
    const s = this.status;
    const { bus } = this.opts;
    const gofer = (type: 'gofer.serve' | 'gofer.pause' | 'gofer.resume') => bus.tell({ type, from: this.address, to: goferAddress(this.id) });
    if (s === 'created') gofer('gofer.serve');
    if (s === 'running') gofer('gofer.resume');
    if (s === 'paused') gofer('gofer.pause');
    for (const p of [this.init, ...[...this.execs.values()].map((e) => e.process)]) {
      bus.tell({ type: 'process.follow', from: this.address, to: p.address, status: s, pid: p === this.init ? this.initPid : null, exitStatus: this.exitStatus });
    }
  }

  /** Tell the sandbox where this container is now; a root's sandbox brings its members along. */
  private tellSandbox(): void {
    this.sandboxSettled = this.opts.bus.request({
      type: 'member.status', from: this.address, to: sandboxAddress(this.sandboxId), id: this.id, status: this.status, exitStatus: this.exitStatus,
    }).catch(() => undefined);
  }

  /**
   * Where the sandbox's last order left this member. Callers that pause a pod container by
   * container (podman's `pod pause`, in parallel) then find it paused already: that pause (or
   * resume) is the one the sandbox made, so it succeeds instead of being refused.
   */
  private followedSandbox: 'paused' | 'running' | null = null;

  /**
   * Orders from the sandbox (members follow their root; each is a no-op where it does not
   * apply), in turn with the container's operations; and facts from the container's processes,
   * applied at once (concurrent: an operation may be waiting for them).
   */
  private handlers() {
    return {
      'process.started': { concurrent: true, handle: (m: { name: string }) => { if (m.name === 'init') this.started(); } },
      'process.exited': { concurrent: true, handle: (m: { name: string; exitStatus: number }) => { if (m.name === 'init') this.exited(m.exitStatus); } },
      'process.lost': {
        concurrent: true,
        handle: (m: { name: string }) => {
          if (m.name === 'init') this.initLost();
          else this.execGone(m.name);
        },
      },
      'container.stop': () => this.order(() => this.killAndWait()),
      'container.pause': () => this.order(async () => {
        if (this.status !== 'running') return false;
        await this.freeze();
        this.followedSandbox = 'paused';
        return true;
      }),
      'container.resume': () => this.order(async () => {
        if (this.status !== 'paused') return false;
        await this.thaw();
        this.followedSandbox = 'running';
        return true;
      }),
    } as const;
  }

  /** runa's own effects on the host, by key. */
  private realEffects(): ContainerEffects {
    return {
      freezeCgroup: () => this.requireCgroup(CANNOT_FREEZE).freeze(),
      thawCgroup: () => this.requireCgroup().thaw(),
      runHooks: (r) => {
        const hooks = (this.spec().hooks as Record<string, Parameters<typeof runHooks>[1]> | undefined)?.[r.kind];
        const opts = r.nsPid !== undefined ? { nsPid: r.nsPid } : {};
        return r.bestEffort ? runHooksBestEffort(r.kind as never, hooks, r.state as never) : runHooks(r.kind as never, hooks, r.state as never, opts);
      },
      signalAll: (r) => this.signalAll(r.signal),
      destroyCgroup: async () => {
        const cg = this.cgroup();
        if (!cg) return;
        // Usually nothing is left (the init's exit ended its pid namespace): then it goes at once.
        if (cg.removeIfEmpty()) return;
        // Make sure nothing is left in it (a created container's init, stragglers), then remove it.
        // A cgroup that existed before the container may hold others' processes: those stay.
        if (!tryKill(cg)) for (const pid of cg.pids(true)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
        await cg.destroy().catch((e) => process.stderr.write(`runa: warning: removing cgroup ${cg.path}: ${(e as Error).message}\n`));
      },
      checkpoint: (r) => {
        const binds = (this.spec().mounts ?? []).filter((m) => m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind')).map((m) => m.destination);
        return criuDump(this.initPid!, this.record.rootfs, binds, r.options as CheckpointOptions);
      },
    };
  }

  persist(): void {
    if (this.deleted || this.persistHeld) return;
    const status = this.status;
    if (status === 'deleted') return;
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
      monitorPid: this.monitorPid,
      monitorStartTime: this.monitorStartTime,
      initPid: this.initPid,
      supervised: this.record.supervised,
      sandbox: this.record.sandbox,
      ...(this.record.noNewKeyring ? { noNewKeyring: true } : {}),
      ...(this.record.rdt ? { rdt: this.record.rdt } : {}),
      initStartTime: this.initStartTime,
      exitStatus: this.exitStatus,
      cgroup: this.record.cgroup,
      snapshot: this.container.getPersistedSnapshot(),
    };
    writeState(this.record.stateDir, state);
  }

  private send(event: ContainerEvent): void {
    const before = this.container.getSnapshot();
    this.container.send(event);
    const after = this.container.getSnapshot();
    if (after === before) return;
    if (before.value === 'creating' && after.value !== 'creating') for (const fn of this.leaveCreating.splice(0)) fn();
    this.syncCompanions();
    // Only a change of state or context is worth a write (kill in running changes neither).
    if (after.value !== before.value || after.context !== before.context) this.persist();
    if (after.value !== before.value) {
      this.history.push({ actor: this.address, kind: 'transition', type: event.type, from: String(before.value), to: String(after.value), value: after.value, context: after.context });
      this.tellSandbox();
    }
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
    const snap = this.container.getSnapshot();
    const machine = (address: string, a: AnyActor) => { const s = a.getSnapshot(); return { address, value: String(s.value), context: s.context }; };
    return {
      container: { ...machine(this.address, this.container), monitorPid: this.monitorPid, initPid: this.initPid, linked: this.linked, supervised: Boolean(this.record.supervised) },
      processes: [machine(this.init.address, this.init.actor), ...[...this.execs.values()].map((e) => machine(e.process.address, e.process.actor))],
      gofer: machine(goferAddress(this.id), this.gofer.actor),
      status: containerStatus(snap),
    };
  }

  /**
   * `runa debug --stacks`: what its actors are doing now: effects asked for and not answered
   * (by ticket, queued or running, with their age), and every child actor still active.
   */
  activity() {
    const actors: Array<[string, AnyActor, { inFlight(): InFlight[] } | null]> = [
      [this.address, this.container, null],
      [`effects:${this.id}`, this.effectsActor, this.effects],
      [goferAddress(this.id), this.gofer.actor, null],
      [this.init.address, this.init.actor, this.init],
      ...[...this.execs.values()].map((e): [string, AnyActor, ProcessActor] => [e.process.address, e.process.actor, e.process]),
    ];
    const effects: Array<InFlight & { actor: string }> = [];
    const children: Array<{ actor: string; src: string; sessionId: string }> = [];
    for (const [address, actor, owner] of actors) {
      for (const f of owner?.inFlight() ?? []) effects.push({ actor: address, ...f });
      const kids = (actor.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> }).children ?? {};
      for (const child of Object.values(kids)) {
        if (child && child.getSnapshot().status === 'active') children.push({ actor: address, src: String((child as { src?: unknown }).src ?? child.id), sessionId: child.sessionId });
      }
    }
    return { effects, children };
  }

  private leaveCreating: Array<() => void> = [];
  onLeaveCreating(fn: () => void): void {
    if (this.status === 'creating') this.leaveCreating.push(fn);
    else fn();
  }

  state() {
    const status = this.status;
    return ociState({ ...this.record, initPid: this.initPid }, status === 'deleted' ? 'stopped' : (status as Status));
  }

  // ---- operations ----

  /**
   * The create-time hooks, at nsinit's hook points: prestart and createRuntime in the
   * runtime's namespaces, createContainer in the container's (its mount namespace before
   * pivot_root). The state they get says `creating`, with the container process's pid.
   */
  createHooks(kind: 'prestart' | 'createRuntime' | 'createContainer', childPid: number): Promise<void> {
    return this.enqueue(async () => {
      if (this.status !== 'creating') throw new RunaError('invalid_state', `cannot run ${kind} hooks of container ${JSON.stringify(this.id)} in state ${this.status}`);
      const state = { ...this.state(), status: 'creating', pid: childPid };
      await this.effects.ask({ type: 'runHooks', kind, state, ...(kind === 'createContainer' ? { nsPid: childPid } : {}) });
    }, 'container.hooks');
  }

  /** nsinit reported `created`: attach to its monitor. */
  created(monitorPid: number, initPid: number, startNext = false): Promise<void> {
    return this.enqueue(async () => {
      this.refuseUnless({ type: 'container.created' });
      await this.attach(monitorPid);
      this.initPid = initPid;
      this.initStartTime = processStartTime(initPid);
      // `run`: the start follows in the same request and writes the state then. A daemon that
      // dies in between leaves `creating`, which the next one settles from the monitor.
      this.persistHeld = startNext;
      try {
        this.send({ type: 'container.created' });
      } finally {
        this.persistHeld = false;
      }
    }, 'container.created');
  }
  private persistHeld = false;

  /** Ask the init's Process actor to connect to the monitor (the one we expect) and report what it says. */
  async attach(expectedPid: number | null): Promise<'created' | 'running'> {
    const hello = await this.opts.bus.request({
      type: 'process.attach', from: this.address, to: this.init.address, socket: monitorSocket(this.record.stateDir), expectedPid,
    });
    this.linked = true;
    this.monitorPid = hello.pid;
    this.monitorStartTime = processStartTime(hello.pid);
    this.initPid = hello.initPid;
    this.initStartTime ??= processStartTime(hello.initPid);
    if (hello.state === 'running') this.programStarted = true;
    return hello.state;
  }

  /** The init's monitor link closed. The monitor writes the exit record before it goes; without one it was killed. */
  private initLost(): void {
    if (!this.linked) return;
    this.linked = false;
    const exit = readExit(this.record.stateDir);
    if (exit) this.exited(exit.exitStatus);
    else if (processAlive(this.monitorPid, this.monitorStartTime)) this.awaitMonitorEnd(0);
    else this.monitorLost();
  }

  /**
   * The link was dropped while its monitor lives on (one that broke its protocol, or a monitor
   * still on its way out): its word comes when it ends, from the exit record it writes then,
   * rather than a guess now. Checked every 25 ms for a second, then every 250 ms.
   */
  private awaitMonitorEnd(tick: number): void {
    setTimeout(() => {
      if (this.deleted || this.linked) return;
      if (processAlive(this.monitorPid, this.monitorStartTime)) { this.awaitMonitorEnd(tick + 1); return; }
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
    if (!this.record.supervised || !processAlive(this.initPid, this.initStartTime)) {
      this.exited(this.record.supervised ? -1 : LOST_MONITOR_STATUS);
      return;
    }
    this.unmonitored = true;
    const timer = setInterval(() => {
      if (this.deleted || !this.followUnmonitored()) clearInterval(timer);
    }, 250);
    timer.unref();
  }

  /** A supervised init with no monitor: is it still there? Its end is applied at once (before any operation too). */
  private unmonitored = false;
  private followUnmonitored(): boolean {
    if (!this.unmonitored || this.linked) return false;
    if (processAlive(this.initPid, this.initStartTime)) return true;
    this.unmonitored = false;
    this.exited(-1);
    return false;
  }

  /** The user program runs (the monitor saw exec succeed). */
  private programStarted = false;
  private started(): void {
    this.programStarted = true;
    if (!this.deleted && this.container.getSnapshot().can({ type: 'container.start' })) this.send({ type: 'container.start' });
  }

  /** A fact, not an operation: applied at once, even while an operation waits for it. */
  exited(exitStatus: number): void {
    const event = { type: 'process.exited', exitStatus } as const;
    if (this.deleted || !this.container.getSnapshot().can(event)) return;
    this.send(event);
    for (const w of this.stoppedWaiters.splice(0)) w(exitStatus);
  }

  start(): Promise<void> {
    return this.enqueue(async () => {
      this.refuseUnless({ type: 'container.start' });
      killPoint('start:requested');
      await this.runProgram();
    }, 'container.start');
  }

  /** Open the gate: startContainer hooks, the user program, poststart hooks. */
  private async runProgram(): Promise<void> {
    this.requireLink();
    try {
      if (this.hasHooks('startContainer')) await this.effects.ask({ type: 'runHooks', kind: 'startContainer', state: this.state(), nsPid: this.initPid ?? undefined });
    } catch (e) {
      await this.signalInit(9).catch(() => undefined);
      throw e;
    }
    const r = await this.opts.bus.request({ type: 'process.gate', from: this.address, to: this.init.address });
    if (r.type === 'process.failed') throw new RunaError('start_failed', `starting container process: ${r.message}`);
    if (r.type === 'process.exited') throw new RunaError('start_failed', 'container process exited before it started');
    killPoint('start:gated'); // the program runs; the daemon has not recorded it
    try {
      // The state as the program started (it may have exited by now: a poststart hook still sees it running).
      if (this.hasHooks('poststart')) await this.effects.ask({ type: 'runHooks', kind: 'poststart', state: { ...this.state(), status: 'running', pid: this.initPid ?? 0 } });
    } catch (e) {
      // runtime-spec 1.3 / runc: a failing poststart hook kills the container and fails start.
      await this.signalInit(9).catch(() => undefined);
      throw e;
    }
  }

  kill(signal: number, all = false, pid?: number): Promise<void> {
    return this.enqueue(async () => {
      const event = { type: 'container.kill', signal, all } as const;
      this.refuseUnless(event);
      if (pid !== undefined) return this.signalOne(signal, pid, all);
      if (this.status === 'stopped') return; // --all on a stopped container: nothing left to signal
      if (this.status === 'paused' && signal !== 9) return this.send(event); // the machine queues it until resume
      // SIGKILL of a container without a pid namespace of its own reaches every process in it
      // (runc ≥ 1.2): the kernel's "init dies, everything goes" only holds in a pid namespace.
      const pidns = this.spec().linux?.namespaces?.find((n) => n.type === 'pid');
      if (all || (signal === 9 && (!pidns || pidns.path))) await this.effects.ask({ type: 'signalAll', signal });
      else await this.signalInit(signal);
      // A SIGKILL to a frozen container takes effect once it is thawed.
      if (this.status === 'paused') await this.effects.ask({ type: 'thawCgroup' });
    }, 'container.kill');
  }

  /** `kill --pid`: one process of this container (runsc's words where it has them). */
  private signalOne(signal: number, pid: number, all: boolean): void {
    if (all) throw new RunaError('invalid_argument', `PID (${pid}) cannot be set when signaling all processes`);
    if (this.status !== 'running' && this.status !== 'paused') throw new RunaError('not_running', 'container not running');
    if (this.initPid === null || !containerPids(this.initPid).includes(pid)) {
      throw new RunaError('not_exist', `process ${pid} is not in container ${JSON.stringify(this.id)}`);
    }
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') throw new RunaError('not_exist', `no such process with PID ${pid}`);
      throw e;
    }
  }

  private async signalInit(signal: number): Promise<void> {
    // A supervised init outlives its monitor: signalled directly once pid and start time match.
    const direct = () => this.record.supervised && processAlive(this.initPid, this.initStartTime);
    if (!this.linked && direct()) {
      process.kill(this.initPid!, signal);
      return;
    }
    this.requireLink();
    try {
      await this.opts.bus.request({ type: 'process.signal', from: this.address, to: this.init.address, signal });
    } catch (e) {
      // The monitor refused (kill_failed), or went away meanwhile: a supervised init is signalled directly.
      if ((e as RunaError).code === 'kill_failed' || !direct()) throw e;
      process.kill(this.initPid!, signal);
    }
  }

  /** Every process in the container's pid namespace (the pid namespace is the container). */
  private signalAll(signal: number): void {
    if (this.initPid === null) return;
    // cgroup v2's cgroup.kill, as runc: the whole cgroup at once, where runa made it.
    if (signal === 9 && this.cgroup()?.kill()) return;
    for (const pid of containerPids(this.initPid)) {
      try { process.kill(pid, signal); } catch { /* gone meanwhile */ }
    }
  }

  delete(force = false): Promise<{ warnings: string[] }> {
    return this.enqueue(async () => {
      this.refuseUnless({ type: 'container.delete', force });
      // A member whose cgroup nests in its paused sandbox's cannot die until the sandbox is thawed.
      if (!this.isSandboxRoot && this.status !== 'stopped' && this.status !== 'creating' && this.cgroup()?.frozenByAncestor()) {
        throw new RunaError('invalid_state', `cannot delete container ${JSON.stringify(this.id)} while its sandbox ${JSON.stringify(this.sandboxId)} is paused: resume the sandbox first`);
      }
      writeIntent(this.record.stateDir, { op: 'delete' });
      killPoint('delete:intent');
      await this.killAndWait();
      killPoint('delete:killed');
      // A root goes only once its sandbox has stopped every member (their cgroups may nest in its own).
      if (this.isSandboxRoot) await this.sandboxSettled;
      this.spec(); // read before the state dir goes: poststop hooks run after it
      const state = { ...this.state(), status: 'stopped' };
      await this.teardown(true);
      // poststop: after everything is gone; failures are warnings, delete succeeds.
      if (!this.hasHooks('poststop')) { this.effectsActor.stop(); return { warnings: [] }; }
      return { warnings: await this.effects.ask<string[]>({ type: 'runHooks', kind: 'poststop', bestEffort: true, state }).finally(() => this.effectsActor.stop()) };
    }, 'container.delete');
  }

  /** SIGKILL the init (thawing it if frozen) and wait until it is gone; a no-op when it is not there. */
  private async killAndWait(): Promise<void> {
    if (this.status === 'stopped' || this.status === 'creating' || this.status === 'deleted' || !(this.linked || this.record.supervised)) return;
    const stopped = this.waitStopped();
    await this.signalInit(9).catch(() => undefined);
    if (this.status === 'paused') await this.effects.ask({ type: 'thawCgroup' });
    await Promise.race([stopped, new Promise((r) => setTimeout(r, DELETE_KILL_TIMEOUT_MS).unref())]);
  }

  /** Remove everything the container had on disk, as a last step of delete or a failed create. */
  async teardown(keepEffects = false): Promise<void> {
    this.linked = false;
    this.init.stop(); // lets go of the monitor: no fact follows
    const snap = this.container.getSnapshot();
    if (snap.can({ type: 'container.delete', force: true })) {
      this.container.send({ type: 'container.delete', force: true });
      this.syncCompanions();
    }
    this.deleted = true;
    for (const fn of this.leaveCreating.splice(0)) fn();
    for (const id of [...this.execs.keys()]) this.execGone(id);
    // The cgroups first: the state dir, gone last, is what tells a next daemon they were there.
    await this.effects.ask({ type: 'destroyCgroup' });
    removeRdt(this.record.rdt);
    killPoint('delete:cgroups');
    // The gofer undoes the container's filesystem side: plan, config, overlay, records.
    await this.opts.bus.request({ type: 'gofer.undo', from: this.address, to: goferAddress(this.id) })
      .catch(() => removeStateDir(this.record.stateDir));
    this.gofer.stop();
    this.container.stop();
    if (!keepEffects) this.effectsActor.stop();
    this.unregister();
    // The sandbox counts its containers down: its root's going, or a member leaving.
    const to = sandboxAddress(this.sandboxId);
    if (this.isSandboxRoot) this.opts.bus.tell({ type: 'member.status', from: this.address, to, id: this.id, status: 'deleted', exitStatus: this.exitStatus });
    else this.opts.bus.tell({ type: 'member.left', from: this.address, to, id: this.id });
    this.opts.onGone?.(this.id);
  }

  /** Forget a container whose create failed before anything but its record was made. */
  discard(): void {
    this.deleted = true;
    this.unregister();
    this.gofer.stop();
    this.init.stop();
    this.container.stop();
    this.effectsActor.stop();
  }

  wait(): Promise<number> {
    if (this.status === 'stopped' || this.status === 'deleted') return Promise.resolve(this.exitStatus ?? 0);
    return this.waitStopped();
  }

  private waitStopped(): Promise<number> {
    return new Promise((resolve) => this.stoppedWaiters.push(resolve));
  }

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
  private requireCgroup(why = `container ${JSON.stringify(this.id)} has no cgroup`): Cgroup {
    const cg = this.cgroup();
    if (!cg) throw new RunaError('no_cgroup', why);
    return cg;
  }

  /** CRIU dump of the container's processes (runc's checkpoint); a failure changes nothing. */
  checkpoint(options: CheckpointOptions): Promise<void> {
    return this.enqueue(async () => {
      if (this.status !== 'running' && this.status !== 'paused') {
        throw new RunaError('invalid_state', `cannot checkpoint container ${JSON.stringify(this.id)} in state ${this.status}`);
      }
      await this.effects.ask({ type: 'checkpoint', options });
    }, 'container.checkpoint');
  }

  pause(): Promise<void> {
    return this.enqueue(async () => {
      const followed = this.followedSandbox;
      this.followedSandbox = null;
      if (followed === 'paused' && this.status === 'paused') return;
      this.refuseUnless({ type: 'container.pause' });
      await this.freeze();
      // A root's pause is its sandbox's: it returns once every member is paused too.
      await this.sandboxSettled;
    }, 'container.pause');
  }

  private async freeze(): Promise<void> {
    await this.effects.ask({ type: 'freezeCgroup' });
    this.send({ type: 'container.pause' });
  }

  resume(): Promise<void> {
    return this.enqueue(async () => {
      const followed = this.followedSandbox;
      this.followedSandbox = null;
      if (followed === 'running' && this.status === 'running') return;
      this.refuseUnless({ type: 'container.resume' });
      await this.thaw();
      await this.sandboxSettled;
    }, 'container.resume');
  }

  private async thaw(): Promise<void> {
    const queued = [...this.container.getSnapshot().context.pendingSignals];
    await this.effects.ask({ type: 'thawCgroup' });
    this.send({ type: 'container.resume' });
    // Paused before it ever started (LIFECYCLE: created → paused → running): running must
    // be true, so the user program starts now.
    if (!this.programStarted) await this.runProgram();
    // Signals sent while paused are delivered now, in order.
    for (const sig of queued) await this.signalInit(sig).catch(() => undefined);
  }

  stats() {
    const status = this.status;
    if (status !== 'created' && status !== 'running' && status !== 'paused') throw new RunaError('not_running', 'container not running');
    // No cgroup (rootless without delegation): runc's zeroed stats.
    return this.cgroup()?.stats() ?? emptyStats();
  }

  oomCount(): number {
    return this.cgroup()?.oomCount() ?? 0;
  }

  /** Apply new limits; resolves with what the host ignored (kernel memory, …), for a warning. */
  update(resources: LinuxResources): Promise<{ warnings: string[] }> {
    return this.enqueue(() => {
      const status = this.status;
      if (status !== 'created' && status !== 'running' && status !== 'paused') {
        throw new RunaError('invalid_state', `cannot update container ${JSON.stringify(this.id)} in state ${status}`);
      }
      // New device rules replace the old ones whole, with runc's defaults after them as at create
      // (containerd's CRI passes the container's whole list again).
      const devices = resources.devices ? { devices: [...resources.devices, ...RUNC_DEFAULT_DEVICE_RULES] } : {};
      // The config's memory.checkBeforeUpdate holds for every later update of the memory limits (runc).
      const check = this.spec().linux?.resources?.memory?.checkBeforeUpdate;
      if (check && resources.memory && resources.memory.checkBeforeUpdate === undefined) resources = { ...resources, memory: { ...resources.memory, checkBeforeUpdate: true } };
      const { warnings } = this.requireCgroup('cannot update the container\'s limits: container could not join or create cgroup (rootless, without a delegated cgroup)').update({ ...resources, ...devices });
      // The stored config follows, so exec and a restarted daemon see the new limits.
      const spec = this.spec();
      const linux = (spec.linux ??= {});
      linux.resources = { ...linux.resources, ...resources };
      fs.writeFileSync(path.join(this.record.stateDir, 'config.json'), stringifySpec(spec), { mode: 0o600 });
      this.specCache = spec;
      return { warnings };
    });
  }

  /**
   * Whether the config has hooks of this kind. None is the usual case: then no effect is
   * asked for (an XState actor each, and the OCI state built for the hooks).
   */
  private hasHooks(kind: string): boolean {
    const hooks = (this.spec().hooks as Record<string, unknown> | undefined)?.[kind];
    return Array.isArray(hooks) && hooks.length > 0;
  }

  /** The config.json this container was created with (kept in its state dir). */
  spec(): Spec {
    this.specCache ??= parseSpecText(fs.readFileSync(path.join(this.record.stateDir, 'config.json'), 'utf8')) as Spec;
    return this.specCache;
  }
  private specCache: Spec | null = null;

  /** Prepare an exec'd process: its plan joins the init's namespaces. The CLI spawns nsinit. */
  exec(overrides: ExecOverrides, consoleSocket?: string, supervised = false, ignorePaused = false, cgroups: string[] = [], pidfdSocket?: string): Promise<{ execId: string; plan: string }> {
    return this.enqueue(() => {
      this.refuseUnless({ type: 'container.exec', ignorePaused });
      if (this.initPid === null) throw new RunaError('not_running', 'container not running');
      const spec = this.spec();
      const proc = execProcess(spec.process, overrides);
      const execId = crypto.randomBytes(8).toString('hex');
      const dir = path.join(this.record.stateDir, 'exec', execId);
      const console = proc.terminal ? (consoleSocket ? 'socket' : 'proxy') : null;
      const plan = buildExecPlan({
        process: proc, execDir: dir, initPid: this.initPid, namespaces: (spec.linux?.namespaces ?? []).map((n) => n.type),
        console, consoleSocket, cgroupDirs: this.cgroup() ? execCgroupDirs(this.cgroup()!, cgroups) : undefined,
        seccomp: seccompLoad(spec, { id: this.id, status: 'running', bundle: this.record.bundle, annotations: this.record.annotations }),
        supervised, unprivileged: rootlessEuid(), personality: spec.linux?.personality, memoryPolicy: spec.linux?.memoryPolicy,
        keyring: this.record.noNewKeyring ? null : sessionKeyring(this.id),
        cgroupNsJoined: Boolean(spec.linux?.namespaces?.find((n) => n.type === 'cgroup')?.path), pidfdSocket, rdtDir: this.record.rdt?.dir,
      }, readExecHostFacts({ initPid: this.initPid, process: proc }));
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(planFile(dir), encodePlan(plan), { mode: 0o600 });
      const process = new ProcessActor(this.id, execId, 'exec', { bus: this.opts.bus, watch: this.opts.watch });
      this.track(process.actor, process.address);
      this.execs.set(execId, { process, dir });
      killPoint('exec:prepared');
      return { execId, plan: planFile(dir) };
    }, 'container.exec');
  }

  /** The exec'd process's monitor is up: open its gate and follow it until it exits. */
  execStarted(execId: string, monitorPid: number): Promise<void> {
    return this.enqueue(async () => {
      killPoint('exec:spawned'); // nsinit is up on the caller's side; the daemon has not heard it yet
      const ex = this.execs.get(execId);
      if (!ex) throw new RunaError('not_exist', `no exec ${execId} in container ${JSON.stringify(this.id)}`);
      // Its Process actor holds the monitor link; the link's end (process.lost) ends the exec.
      const to = ex.process.address;
      await this.opts.bus.request({ type: 'process.attach', from: this.address, to, socket: monitorSocket(ex.dir), expectedPid: monitorPid });
      const r = await this.opts.bus.request({ type: 'process.gate', from: this.address, to });
      if (r.type === 'process.failed') throw new RunaError('exec_failed', `exec failed: ${r.message}`);
    }, 'exec.started');
  }

  execFailed(execId: string): void {
    this.execGone(execId);
  }

  private execGone(execId: string): void {
    const ex = this.execs.get(execId);
    if (!ex) return;
    this.execs.delete(execId);
    ex.process.stop();
    removeStateDir(ex.dir);
  }

  private requireLink(): void {
    if (!this.linked) throw new RunaError('not_running', 'container not running');
  }

  /**
   * A file operation on the container's filesystem, served by its gofer: inside the live
   * container's root (its mounts and overlay included) while it has one, else in the bundle's
   * rootfs. Not queued behind operations: a write held by the gofer while the container is
   * paused must not keep `resume` waiting.
   */
  file(request: FileRequest): Promise<unknown> {
    const live = this.status === 'created' || this.status === 'running' || this.status === 'paused';
    const root = live && this.initPid !== null ? `/proc/${this.initPid}/root` : this.record.rootfs;
    return this.opts.bus.request({ type: 'gofer.file', from: this.address, to: goferAddress(this.id), request, root });
  }

  /** The machine of the init or of an exec'd process, for the inspector. */
  processRef(name: string) {
    return name === 'init' ? this.init.actor : this.execs.get(name)?.process.actor;
  }
}

/** cgroup.kill where it can (Cgroup.kill); false (kill one by one) when it cannot or fails. */
function tryKill(cg: Cgroup): boolean {
  try { return cg.kill(); } catch { return false; }
}
