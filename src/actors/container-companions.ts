// What a container tells the actors around it after each change of its OCI status
// (src/actors/container-actor.ts): its companions (init and exec'd processes, gofer), each of
// which takes only what its own machine allows from where it is; and its sandbox. And where a
// file operation on it is served: its machine's answer, which its gofer then serves.
import type { Actor } from 'xstate';
import { refusal, type containerMachine, type ContainerStatus, type FileOp, type FileRoot } from '../machines/index.js';
import { RunaError } from '../errors.js';
import { goferAddress } from './gofer-actor.js';
import { sandboxAddress } from './sandbox-actor.js';
import type { ActorBus, FileRequest } from './actor-bus.js';
import type { ProcessActor } from './process-actor.js';

/** The container, as what it tells needs it. */
export interface CompanionsHost {
  readonly id: string;
  readonly address: string;
  readonly sandboxId: string;
  readonly bus: ActorBus;
  readonly status: ContainerStatus;
  readonly exitStatus: number | null;
  readonly init: ProcessActor;
  readonly monitor: { initPid: number | null };
  readonly record: { rootfs: string };
  readonly container: Actor<typeof containerMachine>;
  execProcesses(): ProcessActor[];
}

/**
 * The gofer and the processes follow the container's status: each is told it, after each
 * change, and its own machine decides what that means from where it is.
 */
export function tellCompanions(c: CompanionsHost): void {
  const status = c.status;
  c.bus.tell({ type: 'gofer.follow', from: c.address, to: goferAddress(c.id), status });
  for (const p of [c.init, ...c.execProcesses()]) {
    c.bus.tell({ type: 'process.follow', from: c.address, to: p.address, status, pid: p === c.init ? c.monitor.initPid : null, exitStatus: c.exitStatus });
  }
}

/** Tell the sandbox where the container is now; a root's sandbox brings its members along. Settles once it has. */
export function tellSandbox(c: CompanionsHost, status: ContainerStatus): Promise<unknown> {
  return c.bus.request({
    type: 'member.status', from: c.address, to: sandboxAddress(c.sandboxId), id: c.id, status, exitStatus: c.exitStatus,
  }).catch(() => undefined);
}

/**
 * A file operation on the container's filesystem, served by its gofer. Where (inside the live
 * container's root, its mounts and overlay included, or in the bundle's rootfs) is the
 * machine's answer to `container.file`, which it refuses where there is no filesystem to serve.
 */
export function fileOperation(c: CompanionsHost, request: FileRequest): Promise<unknown> {
  let root: string;
  try { root = fileRoot(c, request.op); } catch (e) { return Promise.reject(e); }
  return c.bus.request({ type: 'gofer.file', from: c.address, to: goferAddress(c.id), request, root });
}

function fileRoot(c: CompanionsHost, op: FileOp): string {
  const event = { type: 'container.file', op } as const;
  const snap = c.container.getSnapshot();
  const r = snap.status === 'active' ? refusal(snap, event) : { code: 'not_exist', message: 'container does not exist' };
  if (r) throw new RunaError(r.code, r.message);
  let root: FileRoot | null = null;
  const sub = c.container.on('container.fileRoot', (e) => { root = e.root; });
  try { c.container.send(event); } finally { sub.unsubscribe(); }
  if (root === 'bundle') return c.record.rootfs;
  if (root === 'live' && c.monitor.initPid !== null) return `/proc/${c.monitor.initPid}/root`;
  throw new RunaError('not_running', root === 'live' ? 'container not running' : `container ${JSON.stringify(c.id)}: ${op} was not answered`);
}
