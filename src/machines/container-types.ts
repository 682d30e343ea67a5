// The container machine's vocabulary (src/machines/container.ts): its input, context, events,
// what it emits, and its effects' inputs by key.
import type { Outcome } from './outcome.js';

export const SIGKILL = 9;
/** How long stop and delete wait for a SIGKILLed init to be reported gone. */
export const KILL_WAIT_MS = 10_000;

export interface ContainerInput {
  id: string;
}

/** The settled states: what `state` reports and what is persisted. */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped' | 'deleted';
export type Settled = Exclude<ContainerStatus, 'deleted'>;

export type { Outcome } from './outcome.js';

export interface ContainerContext {
  id: string;
  /** Exit status of init (`128+signal` if signalled), once it has exited. */
  exitStatus: number | null;
  /** Signals sent while paused, delivered on resume (never SIGKILL). */
  pendingSignals: number[];
  /** Where the container was when the operation in progress began (an in-between state reports it). */
  settled: Settled;
  /** The user program runs, or ran (the monitor saw its execve): resume of a container paused before start starts it. */
  programStarted: boolean;
  /**
   * Where the sandbox's last order left this member. A caller that pauses a pod's containers one
   * by one after the pod (podman's `pod pause`) finds it paused already: that pause succeeds.
   */
  followed: 'paused' | 'running' | null;
  /** Operations accepted so far; `outcome` is the last one's. */
  seq: number;
  outcome: Outcome | null;
}

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer';

/** A file operation on the container's filesystem (its gofer serves it). */
export type FileOp = 'read' | 'write' | 'stat';

export type ContainerEvent =
  /** create-time hooks at nsinit's hook points, while creating */
  | { type: 'container.hooks'; kind: HookKind; childPid: number }
  /** nsinit is up: attach to its monitor (null: whatever monitor is there, a create whose CLI vanished) */
  | { type: 'container.created'; monitorPid?: number | null; initPid?: number }
  | { type: 'container.start' }
  | { type: 'container.kill'; signal: number; all?: boolean; pid?: number }
  | { type: 'container.pause' }
  | { type: 'container.resume' }
  /** ignorePaused: runc's `exec --ignore-paused` (the process waits in the frozen cgroup) */
  | { type: 'container.exec'; ignorePaused?: boolean; request?: unknown }
  | { type: 'container.update'; resources?: unknown }
  | { type: 'container.checkpoint'; options?: unknown }
  | { type: 'container.delete'; force?: boolean }
  /** reads: accepted where the container has processes (never sent: `can()` answers them) */
  | { type: 'container.stats' }
  /**
   * A file operation: accepted beside any operation in flight, answered at once by the root it is
   * served in (emitted: `container.fileRoot`), refused where the container has no filesystem to serve.
   */
  | { type: 'container.file'; op: FileOp }
  /** the sandbox's orders to its members (a no-op, answered false, where they do not apply) */
  | { type: 'sandbox.pause' }
  | { type: 'sandbox.resume' }
  | { type: 'sandbox.stop' }
  /** facts from the init's monitor */
  | { type: 'process.started' }
  | { type: 'process.exited'; exitStatus: number };

/**
 * Where a file operation is served: `live`, inside the running container's root as its init
 * sees it (its mounts and overlay included); `bundle`, in the bundle's rootfs (no init yet, or
 * no more).
 */
export type FileRoot = 'live' | 'bundle';

/** What the machine emits: the answer to a file operation, which is no operation of its lifecycle. */
export type ContainerEmitted = { type: 'container.fileRoot'; root: FileRoot };

/** Effect inputs, by key. */
export interface EffectInputs {
  runHooks: { kind: HookKind; childPid: number };
  attach: { monitorPid: number | null; initPid: number | null };
  start: Record<string, never>;
  freeze: { from: Settled };
  resume: { queued: number[]; programStarted: boolean };
  signal: { signal: number; all: boolean; pid: number | null; from: Settled };
  prepareExec: { ignorePaused: boolean; request: unknown };
  update: { resources: unknown };
  checkpoint: { options: unknown };
  /** SIGKILL the init (thawed if frozen); answers whether there was one to wait for */
  stop: { from: Settled };
  /** checks nothing forbids the delete, and writes the intent */
  prepareDelete: { from: Settled; force: boolean };
  teardown: { from: Settled };
}
export type ContainerEffectKey = keyof EffectInputs;
export const CONTAINER_EFFECT_KEYS: ContainerEffectKey[] = [
  'runHooks', 'attach', 'start', 'freeze', 'resume', 'signal', 'prepareExec', 'update', 'checkpoint', 'stop', 'prepareDelete', 'teardown',
];

/** What the attach effect answers: the monitor's word. */
export interface AttachOutput { state: 'created' | 'running' }
