// One container as a root actor: its machines (container, init process, gofer, sandbox),
// its monitor link and its mailbox. Operations are serialized by the mailbox; facts from
// the monitor (the init exited) apply at once.
import fs from 'node:fs';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { containerMachine, containerStatus, refusal, type ContainerEvent } from '../machines/container.js';
import { processMachine } from '../machines/process.js';
import { goferMachine } from '../machines/gofer.js';
import { sandboxMachine } from '../machines/sandbox.js';
import { MonitorLink } from './monitor-link.js';
import { RunaError } from '../errors.js';
import { monitorSocket } from '../paths.js';
import { ociState, processStartTime, readExit, writeState, SCHEMA_VERSION, type PersistedContainer, type Status } from '../state.js';

/** Exit status recorded when a monitor vanished without writing one: its death SIGKILLs the init (pdeathsig). */
export const LOST_MONITOR_STATUS = 137;
const DELETE_KILL_TIMEOUT_MS = 10_000;

export interface ContainerRecord {
  id: string;
  stateDir: string;
  ociVersion: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

export interface ContainerActorOptions {
  inspect?: (ev: InspectionEvent) => void;
  /** persisted container snapshot to resume from (adoption) */
  snapshot?: unknown;
  monitor?: { pid: number | null; startTime: string | null; initPid: number | null };
  onGone?(id: string): void;
}

export class ContainerActor {
  readonly container: Actor<typeof containerMachine>;
  readonly init: Actor<typeof processMachine>;
  readonly gofer: Actor<typeof goferMachine>;
  readonly sandbox: Actor<typeof sandboxMachine>;
  private mailbox: Promise<unknown> = Promise.resolve();
  private link: MonitorLink | null = null;
  private monitorPid: number | null = null;
  private monitorStartTime: string | null = null;
  private initPid: number | null = null;
  private stoppedWaiters: Array<(status: number) => void> = [];
  private deleted = false;

  constructor(readonly record: ContainerRecord, private readonly opts: ContainerActorOptions = {}) {
    const inspect = opts.inspect;
    this.container = createActor(containerMachine, {
      input: { id: record.id },
      inspect,
      ...(opts.snapshot ? { snapshot: opts.snapshot as never } : {}),
    }).start();
    this.init = createActor(processMachine, { input: { role: 'init' }, inspect }).start();
    this.gofer = createActor(goferMachine, { input: { id: record.id }, inspect }).start();
    this.sandbox = createActor(sandboxMachine, { input: { id: record.id }, inspect }).start();
    if (opts.monitor) {
      this.monitorPid = opts.monitor.pid;
      this.monitorStartTime = opts.monitor.startTime;
      this.initPid = opts.monitor.initPid;
    }
    this.syncCompanions();
  }

  get id(): string { return this.record.id; }
  get status(): ReturnType<typeof containerStatus> { return containerStatus(this.container.getSnapshot()); }
  get exitStatus(): number | null { return this.container.getSnapshot().context.exitStatus; }
  get pid(): number | null { return this.monitorPid; }

  /** Serialize an operation behind every earlier one on this container. */
  enqueue<T>(op: () => Promise<T> | T): Promise<T> {
    const next = this.mailbox.then(op, op);
    this.mailbox = next.catch(() => undefined);
    return next;
  }

  private refuseUnless(event: ContainerEvent): void {
    const r = refusal(this.container.getSnapshot(), event);
    if (r) throw new RunaError(r.code, r.message);
  }

  /** The companions (init process, gofer, sandbox) follow the container's state. */
  private syncCompanions(): void {
    const s = this.status;
    const p = this.init.getSnapshot();
    if (s === 'running' && p.value === 'created') this.init.send({ type: 'process.start', pid: this.initPid ?? undefined });
    if ((s === 'stopped' || s === 'deleted') && p.value !== 'stopped') this.init.send({ type: 'process.exited', exitStatus: this.exitStatus ?? 0 });
    if ((s === 'created' || s === 'running' || s === 'paused') && this.gofer.getSnapshot().value === 'created') this.gofer.send({ type: 'gofer.serve' });
    if (s === 'deleted') this.gofer.send({ type: 'gofer.stop' });
    if (s === 'running' && this.sandbox.getSnapshot().value === 'created') this.sandbox.send({ type: 'sandbox.start' });
    if ((s === 'stopped' || s === 'deleted') && this.sandbox.getSnapshot().value !== 'stopped') this.sandbox.send({ type: 'sandbox.stop' });
    if (s === 'deleted') this.sandbox.send({ type: 'sandbox.container.removed' });
  }

  persist(): void {
    if (this.deleted) return;
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
      exitStatus: this.exitStatus,
      snapshot: this.container.getPersistedSnapshot(),
    };
    writeState(this.record.stateDir, state);
  }

  private send(event: ContainerEvent): void {
    this.container.send(event);
    this.syncCompanions();
    this.persist();
  }

  state() {
    const status = this.status;
    return ociState(
      { ...this.record, schemaVersion: SCHEMA_VERSION, status: status as Status, monitorPid: this.monitorPid, monitorStartTime: null, initPid: this.initPid, exitStatus: this.exitStatus, snapshot: null },
      status === 'deleted' ? 'stopped' : (status as Status),
    );
  }

  // ---- operations ----

  /** nsinit reported `created`: attach to its monitor. */
  created(monitorPid: number, initPid: number): Promise<void> {
    return this.enqueue(async () => {
      this.refuseUnless({ type: 'container.created' });
      await this.attach(monitorPid);
      this.initPid = initPid;
      this.send({ type: 'container.created' });
    });
  }

  /** Connect to the monitor, check it is the one we expect, and follow its exit. */
  async attach(expectedPid: number | null): Promise<'created' | 'running'> {
    const { link, hello } = await MonitorLink.connect(monitorSocket(this.record.stateDir));
    if (expectedPid !== null && hello.pid !== expectedPid) {
      link.close();
      throw new RunaError('monitor_mismatch', `monitor at ${monitorSocket(this.record.stateDir)} has pid ${hello.pid}, expected ${expectedPid}`);
    }
    this.link = link;
    this.monitorPid = hello.pid;
    this.monitorStartTime = processStartTime(hello.pid);
    this.initPid = hello.initPid;
    // Facts from the monitor apply in the order it reports them.
    link.messages.subscribe((m) => {
      if (m.type === 'process.started') this.started();
      if (m.type === 'process.exited') this.exited(m.exitStatus);
    });
    void link.closed.then(() => {
      if (this.link !== link) return;
      this.link = null;
      // The monitor writes the exit record before it goes; without one it was killed.
      const exit = readExit(this.record.stateDir);
      this.exited(exit ? exit.exitStatus : LOST_MONITOR_STATUS);
    });
    return hello.state;
  }

  /** The user program runs (the monitor saw exec succeed). */
  private started(): void {
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
      const link = this.requireLink();
      const reply = link.next('process.started', 'process.failed', 'process.exited');
      link.send({ type: 'monitor.start' });
      const r = await reply;
      if (r.type === 'process.failed') throw new RunaError('start_failed', `starting container process: ${r.message}`);
      if (r.type === 'process.exited') throw new RunaError('start_failed', 'container process exited before it started');
    });
  }

  kill(signal: number, all = false): Promise<void> {
    return this.enqueue(async () => {
      this.refuseUnless({ type: 'container.kill', signal, all });
      if (this.status === 'stopped') return; // --all on a stopped container: nothing left to signal
      if (all) return this.signalAll(signal);
      await this.signalInit(signal);
    });
  }

  private async signalInit(signal: number): Promise<void> {
    const link = this.requireLink();
    const reply = link.next('monitor.signalled', 'monitor.error', 'process.exited');
    link.send({ type: 'monitor.signal', signal });
    const r = await reply;
    if (r.type === 'monitor.error') throw new RunaError('kill_failed', `signalling container: ${r.message}`);
  }

  /** Every process in the container's pid namespace (the pid namespace is the container). */
  private signalAll(signal: number): void {
    if (this.initPid === null) return;
    let ns: string;
    try { ns = fs.readlinkSync(`/proc/${this.initPid}/ns/pid`); } catch { return; }
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (fs.readlinkSync(`/proc/${name}/ns/pid`) === ns) process.kill(Number(name), signal);
      } catch { /* gone meanwhile */ }
    }
  }

  delete(force = false): Promise<void> {
    return this.enqueue(async () => {
      this.refuseUnless({ type: 'container.delete', force });
      if (this.status !== 'stopped' && this.status !== 'creating' && this.link) {
        const stopped = this.waitStopped();
        await this.signalInit(9).catch(() => undefined);
        await Promise.race([stopped, new Promise((r) => setTimeout(r, DELETE_KILL_TIMEOUT_MS).unref())]);
      }
      this.teardown();
    });
  }

  /** Remove everything the container had on disk, as a last step of delete or a failed create. */
  teardown(): void {
    this.link?.close();
    this.link = null;
    const snap = this.container.getSnapshot();
    if (snap.can({ type: 'container.delete', force: true })) {
      this.container.send({ type: 'container.delete', force: true });
      this.syncCompanions();
    }
    this.deleted = true;
    fs.rmSync(this.record.stateDir, { recursive: true, force: true });
    for (const a of [this.container, this.init, this.gofer, this.sandbox]) a.stop();
    this.opts.onGone?.(this.id);
  }

  wait(): Promise<number> {
    if (this.status === 'stopped' || this.status === 'deleted') return Promise.resolve(this.exitStatus ?? 0);
    return this.waitStopped();
  }

  private waitStopped(): Promise<number> {
    return new Promise((resolve) => this.stoppedWaiters.push(resolve));
  }

  private requireLink(): MonitorLink {
    if (!this.link) throw new RunaError('not_running', 'container not running');
    return this.link;
  }

  inspectables(): Array<Actor<any>> {
    return [this.container, this.init, this.gofer, this.sandbox];
  }
}
