// runa's effects for the container machine, by key (src/machines/container.ts, EffectInputs):
// what each in-between state does on the host. The machine decides when; these only do.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { EffectInputs, ContainerEffectKey, AttachOutput, ContainerStatus } from '../machines/index.js';
import { ProcessActor } from './process-actor.js';
import type { ActorBus } from './actor-bus.js';
import { containerPids } from '../proc.js';
import { RunaError } from '../errors.js';
import { monitorSocket, planFile } from '../paths.js';
import { buildExecPlan, readExecHostFacts, sessionKeyring } from '../oci/plan.js';
import { execProcess, seccompLoad, stringifySpec, type Spec } from '../oci/spec.js';
import { criuDump } from './criu.js';
import { encodePlan } from '../nsinit/plan.js';
import type { CheckpointOptions, ExecOverrides } from '../bus/messages.js';
import { removeRdt } from '../cgroups/resctrl.js';
import { startAttachGrace } from '../cgroups/attach-grace.js';
import { CANNOT_FREEZE, RUNC_DEFAULT_DEVICE_RULES, removeCgroup, type Cgroup, type LinuxResources } from '../cgroups/index.js';
import { rootlessEuid } from '../rootless.js';
import { goferAddress } from './gofer-actor.js';
import { runHooks, runHooksBestEffort } from '../hooks/index.js';
import { processAlive, processStartTime, removeStateDir, writeIntent, type OciStateView } from '../state.js';
import { execCgroupDirs } from './container-cgroups.js';
import type { ContainerRecord } from './container-record.js';
import { killPoint } from '../faults.js';

/** What a container's effects do, by key (tests swap some of them). */
export type ContainerEffects = { [K in ContainerEffectKey]: (input: EffectInputs[K]) => unknown };

/** What `container.exec` carries for its effect. */
export interface ExecRequest {
  overrides: ExecOverrides;
  consoleSocket?: string;
  supervised?: boolean;
  cgroups?: string[];
  pidfdSocket?: string;
}

/** The init's monitor as the container knows it. */
export interface MonitorFacts {
  /** the init's Process actor holds a live link to its monitor */
  linked: boolean;
  monitorPid: number | null;
  monitorStartTime: string | null;
  initPid: number | null;
  initStartTime: string | null;
  /** `nsinit --start` (run) opened the gate itself and the program did not start: why (runc's start error) */
  startError?: string;
}

/** The container as its effects see it (ContainerActor). */
export interface EffectHost {
  readonly id: string;
  readonly record: ContainerRecord;
  readonly address: string;
  readonly isSandboxRoot: boolean;
  readonly monitor: MonitorFacts;
  readonly bus: ActorBus;
  readonly initAddress: string;
  readonly exitStatus: number | null;
  /** the sandbox has followed this container's last change */
  readonly sandboxSettled: Promise<unknown>;
  spec(): Spec;
  setSpec(spec: Spec): void;
  state(): OciStateView;
  hasHooks(kind: string): boolean;
  cgroup(): Cgroup | null;
  requireCgroup(why?: string): Cgroup;
  /** a new exec'd process's actor, kept until it ends */
  addExec(execId: string, dir: string): ProcessActor;
  /** the container's actors let go: its monitor link, its exec'd processes */
  release(): void;
}

/** runa's effects on the host for one container. */
export function runaEffects(c: EffectHost): ContainerEffects {
  return {
    runHooks: async ({ kind, childPid }) => {
      const state = { ...c.state(), status: 'creating', pid: childPid };
      await runHooks(kind, hooksOf(c, kind), state as never, kind === 'createContainer' ? { nsPid: childPid } : {});
    },
    attach: async ({ monitorPid, initPid }) => {
      const hello = await attach(c, monitorPid);
      if (initPid !== null) {
        c.monitor.initPid = initPid;
        c.monitor.initStartTime = processStartTime(initPid);
      }
      return hello;
    },
    start: () => { killPoint('start:requested'); return runProgram(c); },
    freeze: () => c.requireCgroup(CANNOT_FREEZE).freeze(),
    resume: async ({ queued, programStarted }) => {
      c.requireCgroup().thaw();
      // Paused before it ever started (created → paused → running): running must be true, so
      // the user program starts now.
      if (!programStarted) await runProgram(c);
      // Signals sent while paused are delivered now, in order.
      for (const sig of queued) await signalInit(c, sig).catch(() => undefined);
    },
    signal: ({ signal, all, pid, from }) => kill(c, signal, all, pid, from),
    prepareExec: ({ ignorePaused: _, request }) => prepareExec(c, request as ExecRequest),
    update: ({ resources }) => update(c, resources as LinuxResources),
    checkpoint: ({ options }) => {
      const binds = (c.spec().mounts ?? []).filter((m) => m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind')).map((m) => m.destination);
      return criuDump(c.monitor.initPid!, c.record.rootfs, binds, options as CheckpointOptions);
    },
    stop: async ({ from }) => {
      if (from === 'stopped' || from === 'creating' || c.exitStatus !== null || !(c.monitor.linked || c.record.supervised)) return false;
      await signalInit(c, 9).catch(() => undefined);
      if (from === 'paused') c.cgroup()?.thaw();
      return true;
    },
    prepareDelete: ({ from }) => {
      // A member whose cgroup nests in its paused sandbox's cannot die until the sandbox is thawed.
      if (!c.isSandboxRoot && from !== 'stopped' && from !== 'creating' && c.cgroup()?.frozenByAncestor()) {
        throw new RunaError('invalid_state', `cannot delete container ${JSON.stringify(c.id)} while its sandbox ${JSON.stringify(c.record.sandbox)} is paused: resume the sandbox first`);
      }
      writeIntent(c.record.stateDir, { op: 'delete' });
      killPoint('delete:intent');
    },
    teardown: ({ from }) => teardown(c, from),
  };
}

function hooksOf(c: EffectHost, kind: string): Parameters<typeof runHooks>[1] {
  return (c.spec().hooks as Record<string, Parameters<typeof runHooks>[1]> | undefined)?.[kind];
}

/** Ask the init's Process actor to connect to the monitor (the one expected) and report what it says. */
export async function attach(c: EffectHost, expectedPid: number | null): Promise<AttachOutput> {
  const hello = await c.bus.request({ type: 'process.attach', from: c.address, to: c.initAddress, socket: monitorSocket(c.record.stateDir), expectedPid });
  const m = c.monitor;
  m.linked = true;
  m.monitorPid = hello.pid;
  m.monitorStartTime = processStartTime(hello.pid);
  m.initPid = hello.initPid;
  m.initStartTime ??= processStartTime(hello.initPid);
  if (hello.startError !== undefined) m.startError = hello.startError;
  return { state: hello.state };
}

/** Open the gate: startContainer hooks, the user program, poststart hooks. */
async function runProgram(c: EffectHost): Promise<void> {
  if (!c.monitor.linked) throw new RunaError('not_running', 'container not running');
  try {
    if (c.hasHooks('startContainer')) await runHooks('startContainer', hooksOf(c, 'startContainer'), { ...c.state(), status: 'created' } as never, { nsPid: c.monitor.initPid ?? undefined });
  } catch (e) {
    await signalInit(c, 9).catch(() => undefined);
    throw e;
  }
  const r = await c.bus.request({ type: 'process.gate', from: c.address, to: c.initAddress });
  if (r.type === 'process.failed') throw new RunaError('start_failed', `starting container process: ${r.message}`);
  if (r.type === 'process.exited') throw new RunaError('start_failed', 'container process exited before it started');
  killPoint('start:gated'); // the program runs; the daemon has not recorded it
  try {
    // The state as the program started (it may have exited by now: a poststart hook still sees it running).
    if (c.hasHooks('poststart')) await runHooks('poststart', hooksOf(c, 'poststart'), { ...c.state(), status: 'running', pid: c.monitor.initPid ?? 0 } as never);
  } catch (e) {
    // runtime-spec 1.3 / runc: a failing poststart hook kills the container and fails start.
    await signalInit(c, 9).catch(() => undefined);
    throw e;
  }
}

/** Signal the init: through its monitor, or directly for a supervised init that outlived it. */
export async function signalInit(c: EffectHost, signal: number): Promise<void> {
  const m = c.monitor;
  const direct = () => c.record.supervised && processAlive(m.initPid, m.initStartTime);
  if (!m.linked && direct()) {
    process.kill(m.initPid!, signal);
    return;
  }
  if (!m.linked) throw new RunaError('not_running', 'container not running');
  try {
    await c.bus.request({ type: 'process.signal', from: c.address, to: c.initAddress, signal });
  } catch (e) {
    // The monitor refused (kill_failed), or went away meanwhile: a supervised init is signalled directly.
    if ((e as RunaError).code === 'kill_failed' || !direct()) throw e;
    process.kill(m.initPid!, signal);
  }
}

/** `kill`: one process (--pid), every process (--all, or SIGKILL without a pid namespace of its own), or the init. */
async function kill(c: EffectHost, signal: number, all: boolean, pid: number | null, from: ContainerStatus): Promise<void> {
  if (pid !== null) return signalOne(c, signal, pid, all, from);
  // SIGKILL of a container without a pid namespace of its own reaches every process in it
  // (runc ≥ 1.2): the kernel's "init dies, everything goes" only holds in a pid namespace.
  const pidns = c.spec().linux?.namespaces?.find((n) => n.type === 'pid');
  if (all || (signal === 9 && (!pidns || pidns.path))) signalAll(c, signal);
  else await signalInit(c, signal);
  // A SIGKILL to a frozen container takes effect once it is thawed.
  if (from === 'paused') c.requireCgroup().thaw();
}

/** `kill --pid`: one process of this container (runsc's words where it has them). */
function signalOne(c: EffectHost, signal: number, pid: number, all: boolean, from: ContainerStatus): void {
  if (all) throw new RunaError('invalid_argument', `PID (${pid}) cannot be set when signaling all processes`);
  if (from !== 'running' && from !== 'paused') throw new RunaError('not_running', 'container not running');
  const initPid = c.monitor.initPid;
  if (initPid === null || !containerPids(initPid).includes(pid)) {
    throw new RunaError('not_exist', `process ${pid} is not in container ${JSON.stringify(c.id)}`);
  }
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') throw new RunaError('not_exist', `no such process with PID ${pid}`);
    throw e;
  }
}

/** Every process in the container's pid namespace (the pid namespace is the container). */
function signalAll(c: EffectHost, signal: number): void {
  const initPid = c.monitor.initPid;
  if (initPid === null) return;
  // cgroup v2's cgroup.kill, as runc: the whole cgroup at once, where runa made it.
  if (signal === 9 && c.cgroup()?.kill()) return;
  for (const pid of containerPids(initPid)) {
    try { process.kill(pid, signal); } catch { /* gone meanwhile */ }
  }
}

/** Prepare an exec'd process: its plan joins the init's namespaces. The CLI spawns nsinit. */
function prepareExec(c: EffectHost, r: ExecRequest): { execId: string; plan: string } {
  const initPid = c.monitor.initPid;
  if (initPid === null) throw new RunaError('not_running', 'container not running');
  const cg = c.cgroup();
  if (cg) startAttachGrace(); // nsinit's cgroup join waits less (src/cgroups/attach-grace.ts)
  const spec = c.spec();
  const proc = execProcess(spec.process, r.overrides);
  const execId = crypto.randomBytes(8).toString('hex');
  const dir = path.join(c.record.stateDir, 'exec', execId);
  const console = proc.terminal ? (r.consoleSocket ? 'socket' : 'proxy') : null;
  const plan = buildExecPlan({
    process: proc, execDir: dir, initPid, namespaces: (spec.linux?.namespaces ?? []).map((n) => n.type),
    console, consoleSocket: r.consoleSocket, cgroupDirs: cg ? execCgroupDirs(cg, r.cgroups ?? []) : undefined,
    seccomp: seccompLoad(spec, { id: c.id, status: 'running', bundle: c.record.bundle, annotations: c.record.annotations }),
    supervised: r.supervised ?? false, unprivileged: rootlessEuid(), personality: spec.linux?.personality, memoryPolicy: spec.linux?.memoryPolicy,
    keyring: c.record.noNewKeyring ? null : sessionKeyring(c.id),
    cgroupNsJoined: Boolean(spec.linux?.namespaces?.find((n) => n.type === 'cgroup')?.path), pidfdSocket: r.pidfdSocket, rdtDir: c.record.rdt?.dir,
  }, readExecHostFacts({ initPid, process: proc }));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(planFile(dir), encodePlan(plan), { mode: 0o600 });
  c.addExec(execId, dir);
  killPoint('exec:prepared');
  return { execId, plan: planFile(dir) };
}

/** Apply new limits; answers what the host ignored (kernel memory, …), for a warning. */
function update(c: EffectHost, resources: LinuxResources): { warnings: string[] } {
  // New device rules replace the old ones whole, with runc's defaults after them as at create
  // (containerd's CRI passes the container's whole list again).
  const devices = resources.devices ? { devices: [...resources.devices, ...RUNC_DEFAULT_DEVICE_RULES] } : {};
  // The config's memory.checkBeforeUpdate holds for every later update of the memory limits (runc).
  const check = c.spec().linux?.resources?.memory?.checkBeforeUpdate;
  if (check && resources.memory && resources.memory.checkBeforeUpdate === undefined) resources = { ...resources, memory: { ...resources.memory, checkBeforeUpdate: true } };
  const { warnings } = c.requireCgroup('cannot update the container\'s limits: container could not join or create cgroup (rootless, without a delegated cgroup)').update({ ...resources, ...devices });
  // The stored config follows, so exec and a restarted daemon see the new limits.
  const spec = c.spec();
  const linux = (spec.linux ??= {});
  linux.resources = { ...linux.resources, ...resources };
  fs.writeFileSync(path.join(c.record.stateDir, 'config.json'), stringifySpec(spec), { mode: 0o600 });
  c.setSpec(spec);
  return { warnings };
}

/**
 * Remove everything the container had on the host: its cgroups, then (by its gofer) its
 * filesystem side and state dir; then the poststop hooks, whose failures are warnings.
 */
async function teardown(c: EffectHost, from: ContainerStatus): Promise<{ warnings: string[] }> {
  killPoint('delete:killed');
  // A root goes only once its sandbox has stopped every member (their cgroups may nest in its own).
  if (c.isSandboxRoot && from !== 'creating') await c.sandboxSettled;
  const poststop = from !== 'creating' && c.hasHooks('poststop'); // the config is read before the state dir goes
  const state = poststop ? { ...c.state(), status: 'stopped' } : null;
  c.release();
  // The cgroups first: the state dir, gone last, is what tells a next daemon they were there.
  // One still busy is tried again in the background (src/cgroups/removal.ts): the delete goes on.
  const cg = c.cgroup();
  if (cg) await removeCgroup(cg);
  removeRdt(c.record.rdt);
  killPoint('delete:cgroups');
  // The gofer undoes the container's filesystem side: plan, config, overlay, records.
  await c.bus.request({ type: 'gofer.undo', from: c.address, to: goferAddress(c.id) }).catch(() => removeStateDir(c.record.stateDir));
  // poststop: after everything is gone; failures are warnings, delete succeeds.
  return { warnings: state ? await runHooksBestEffort('poststop', hooksOf(c, 'poststop'), state as never) : [] };
}
