// What the planner's parts share: its inputs (PlanInput, ExecPlanInput), the namespace names,
// paths inside the root, and the lookup of a host fact. Pure: the host's state comes in as a
// value (HostFacts, read by src/oci/host-facts.ts).
import path from 'node:path';
import { RunaError } from '../../errors.js';
import type { PlanOp } from '../../nsinit/plan.js';
import type { Spec } from '../spec.js';
import type { HostCgroupMount } from '../../cgroups/host.js';
import type { SeccompLoad } from '../../seccomp/index.js';
import type { Unprivileged } from '../../rootless.js';
import type { RestoreOptions } from '../../bus/messages.js';

export type ProcessSpec = Spec['process'];
export type Personality = NonNullable<NonNullable<Spec['linux']>['personality']>;

export interface PlanInput {
  spec: Spec;
  stateDir: string;
  /** host path of the rootfs (the lower layer when overlay is set) */
  rootfs: string;
  /**
   * resolve a container path to a host path inside the rootfs (the Gofer's secureJoin), for
   * clear errors and runc's meaning of rootfs symlinks; the plan carries the answer as a
   * relative path that nsinit resolves inside the root again when it acts (see inRoot)
   */
  resolve(containerPath: string): string;
  /** runsc's --overlay2 MODE:memory: a writable in-memory layer over the rootfs, and with 'all' over each writable bind mount (overlay.ts) */
  overlay?: OverlayMode | false;
  hostCgroups: HostCgroupMount[];
  /** the container's cgroup directories (see CgroupDirs) */
  cgroupDirs?: CgroupDirs;
  /** process.terminal: a pty sent over --console-socket, or relayed by the monitor */
  console?: 'socket' | 'proxy' | null;
  consoleSocket?: string;
  /** linux.seccomp, compiled */
  seccomp?: SeccompLoad;
  /**
   * The caller supervises (it passed --pid-file): the process is forked as the spawner's child
   * (fork-sibling), so that the caller's subreaper reaps it, and gets no pdeathsig (its parent,
   * the spawner, exits right after create).
   */
  supervised?: boolean;
  /**
   * Rootless: the monitor runs as a user without host privileges (runc's RootlessEUID). A user
   * namespace is required, its maps are written as the kernel lets a user (or by
   * newuidmap/newgidmap), nothing is held or joined that needs host root, and no groups are set.
   */
  unprivileged?: Unprivileged;
  /**
   * The runtime runs as root of a user namespace it did not make, that does not map every id
   * (rootless podman's: the container shares it). The container gets no user namespace of its
   * own, but every mount namespace it makes is owned by that one: no device nodes (the host's
   * are bound), no sysfs, mqueue or cgroup file system of a namespace it does not own (the
   * host's are bound), and binds keep the flags their source mounts have locked.
   */
  inUserNs?: boolean;
  /** the session keyring to join (sessionKeyring), or null to keep the caller's (--no-new-keyring) */
  keyring?: string | null;
  /** --pidfd-socket: where a pidfd of the process goes */
  pidfdSocket?: string;
  /** linux.intelRdt: the CLOS directory the process joins (its tasks file), made by the daemon */
  rdtDir?: string;
  /** runsc's --net-raw: false drops CAP_NET_RAW from the init's capabilities (absent or true: the config's, as runc) */
  netRaw?: boolean;
  /** runa restore: the plan runs `criu restore` instead of setting a process up (src/oci/plan/restore.ts) */
  restore?: RestoreOptions;
}

/** runsc's --overlay2 mount specifier: the root alone, or every writable bind mount too. */
export type OverlayMode = 'root' | 'all';

/** The tmpfs holding a container's every upper layer (in its mount namespace only). */
export const overlayDir = (stateDir: string) => path.join(stateDir, 'overlay');

/** The overlays a container gets (src/oci/plan/overlay.ts). */
export interface OverlayLayout {
  /** the rootfs is the lower layer of an overlay */
  root: boolean;
  /** what pivot_root takes instead of the rootfs: the merged root, or the held rootfs attached (null: the rootfs) */
  newRoot: string | null;
  /** where the tmpfs of the upper layers is mounted (null: none is) */
  base: string | null;
  /** mount index → what its bind takes as its source instead (in the merged view of an overlay) */
  sources: Map<number, string>;
  /** mount index → the flags its overlay has (the source mount's nosuid, nodev, noexec) */
  flags: Map<number, number>;
  /** the tmpfs and the overlays, made before the rootfs is entered (host paths) */
  ops: PlanOp[];
}

export interface ExecPlanInput {
  process: ProcessSpec;
  execDir: string;
  initPid: number;
  /** the OCI namespace types the container has */
  namespaces: string[];
  console?: 'socket' | 'proxy' | null;
  consoleSocket?: string;
  cgroupDirs?: CgroupDirs;
  seccomp?: SeccompLoad;
  /** see PlanInput.supervised */
  supervised?: boolean;
  /** see PlanInput.unprivileged */
  unprivileged?: boolean;
  /** linux.personality: the container's, for its exec'd processes too */
  personality?: Personality;
  /** linux.memoryPolicy: the container's, for its exec'd processes too */
  memoryPolicy?: NonNullable<Spec['linux']>['memoryPolicy'];
  /** the session keyring to join (sessionKeyring), or null to keep the caller's (--no-new-keyring) */
  keyring?: string | null;
  /** the container's cgroup namespace was joined by path (not made for it) */
  cgroupNsJoined?: boolean;
  /** --pidfd-socket: where a pidfd of the process goes */
  pidfdSocket?: string;
  /** linux.intelRdt: the CLOS directory the process joins (its tasks file), made by the daemon */
  rdtDir?: string;
}

/**
 * Where each process of a container goes. The monitor joins every hierarchy that cannot
 * freeze it (`monitor`), before it creates the cgroup namespace; the container's own
 * processes also join the freezing ones (`child`: the v1 freezer and pids, the v2 unified
 * cgroup) at or right after the fork, before the user program runs. A frozen monitor could
 * not serve `kill -9` of a paused container. `cgroup2` names the one of `child` that is a
 * cgroup2 directory (the unified hierarchy's, pure v2 or hybrid): the planner may have the
 * process created in it (`fork` with a cgroup, clone3 CLONE_INTO_CGROUP) instead of written
 * into it (see cloneInto in process.ts).
 */
export interface CgroupDirs { monitor: string[]; child: string[]; cgroup2?: string }

/** nsinit's namespace names (setns/unshare) for the OCI types. */
export const NS_FLAG: Record<string, string> = { pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup', mount: 'mnt', time: 'time' };

/**
 * A host fact by its key (a path, a pid). One the reader did not gather is a fault of
 * src/oci/host-facts.ts, never read as "absent": the plan would silently differ.
 */
export function known<T>(facts: Record<string, T>, key: string, what: string): T {
  if (!Object.hasOwn(facts, key)) throw new Error(`host facts: ${what} of ${JSON.stringify(key)} was not read`);
  return facts[key];
}

/**
 * A host path below the rootfs (secureJoin's answer) as the relative path nsinit resolves
 * inside the root (`.` for the root itself). secureJoin gives the clear errors and runc's
 * meaning of symlinks in the rootfs; what keeps the host safe is that nsinit resolves the
 * relative path again with openat2(RESOLVE_IN_ROOT) when it acts on it, whatever changed since.
 */
export function inRoot(root: string, hostPath: string): string {
  const rel = path.relative(root, hostPath);
  if (rel === '..' || rel.startsWith('../') || path.isAbsolute(rel)) throw new RunaError('invalid_mount', `mount destination ${hostPath} escapes the rootfs`);
  return rel || '.';
}

/** mkdir each component of a path inside the root (EEXIST is fine in nsinit). */
export function mkdirs(target: string): PlanOp[] {
  const parts = target.split('/').filter((p) => p && p !== '.');
  return parts.map((_, i) => ({ op: 'mkdir', path: parts.slice(0, i + 1).join('/'), mode: 0o755 }) as PlanOp);
}
