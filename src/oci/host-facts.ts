// What the planner knows of the host, read here and nowhere else in the plan code: the mount
// table, user namespaces' maps, stat(2) of the paths a plan looks at, device nodes, namespace
// files, the container's /etc/passwd. The callers read the facts and hand them to the pure
// planner (src/oci/plan/), which tests can feed made-up ones.
import fs from 'node:fs';
import path from 'node:path';
import type { IdMapping } from '../nsinit/plan.js';
import { hostSecurity, type HostSecurity } from './security.js';
import { runtimeInterfaces } from './netdevices.js';
import { secureJoin } from './secure-join.js';
import { NS_PROC_NAME } from './linux.js';
import type { ExecPlanInput, PlanInput, ProcessSpec } from './plan/common.js';

/** stat(2) of a host path (symlinks followed). */
export interface PathStat {
  kind: 'dir' | 'file' | 'chr' | 'blk' | 'other';
  /** st_mode's permission bits and type */
  mode: number;
  uid: number;
  gid: number;
  /** of st_rdev, for device nodes (0 otherwise) */
  major: number;
  minor: number;
}

/** A namespace file's identity (dev, ino), or why stat(2) failed. */
export type NsFile = { dev: number; ino: number } | { error: string };

/** A user namespace's maps (/proc/<pid>/uid_map, gid_map); null: unreadable. */
export interface UserMaps { uid: IdMapping[] | null; gid: IdMapping[] | null }

/** A device node under the host's /dev. */
export interface DevNode { path: string; kind: 'chr' | 'blk'; major: number; minor: number }

/** What the process's own ops read: for a container's init and its exec'd processes alike. */
export interface ProcessHostFacts {
  /** the LSMs the host has (hostSecurity) */
  security: HostSecurity;
  /** /proc/self/attr/apparmor/exec exists (else an AppArmor exec label goes to /proc/self/attr/exec) */
  apparmorExecAttr: boolean;
  /** the container's /etc/passwd (for HOME), null when it has none, or when the process's environment names HOME (not read) */
  passwd: string | null;
}

/** What a container's create plan reads of the host. */
export interface HostFacts extends ProcessHostFacts {
  /** /proc/self/mountinfo, null when unreadable */
  mountinfo: string | null;
  /** the runtime's own user namespace's maps (/proc/self/uid_map, gid_map) */
  ownMaps: UserMaps;
  /** the maps of a user namespace joined by /proc/<pid>/ns/user, by pid */
  procMaps: Record<string, UserMaps>;
  /** the kernel has time namespaces (/proc/self/ns/time) */
  timeNamespaces: boolean;
  /** realpath(3) of host paths (the rootfs, mount sources); null when it fails */
  realpaths: Record<string, string | null>;
  /** stat(2) of host paths (mount sources, the rootfs and its parents, device paths); null when it fails */
  stats: Record<string, PathStat | null>;
  /** lstat(2) succeeds (a dangling symlink counts): the linux.devices paths resolved in the rootfs */
  present: Record<string, boolean>;
  /** namespace files: those joined by path, their processes' user namespaces, the runtime's own (/proc/self/ns/*) */
  nsFiles: Record<string, NsFile>;
  /** the host's device nodes under /dev, breadth first, without /dev/pts and /dev/shm; null: not read (no device to bind from elsewhere) */
  devNodes: DevNode[] | null;
  /** the interfaces of the runtime's network namespace (/proc/self/net/dev), null when unread */
  interfaces: string[] | null;
}

/** What an exec'd process's plan reads of the host. */
export interface ExecHostFacts extends ProcessHostFacts {
  /** the init's user namespace's maps */
  maps: UserMaps;
  /** the init's user namespace denies setgroups(2) (or its file is gone) */
  setgroupsDenied: boolean;
}

/** The host paths a user namespace binds for a file system it cannot mount (see usernsMount). */
export const HOST_BIND_SOURCES = ['/sys', '/dev/mqueue', '/sys/fs/cgroup', '/proc'];

export const devMajor = (rdev: number) => Number((BigInt(rdev) >> 8n) & 0xfffn | ((BigInt(rdev) >> 32n) & ~0xfffn));
export const devMinor = (rdev: number) => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));

function statOf(p: string): PathStat | null {
  let st: fs.Stats | undefined;
  // A missing path is the common failure (a mount source that is no path): no exception made for it.
  try { st = fs.statSync(p, { throwIfNoEntry: false }); } catch { return null; }
  if (!st) return null;
  const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isCharacterDevice() ? 'chr' : st.isBlockDevice() ? 'blk' : 'other';
  return { kind, mode: st.mode, uid: st.uid, gid: st.gid, major: devMajor(st.rdev), minor: devMinor(st.rdev) };
}

function realpathOf(p: string): string | null {
  // realpath(3): one call, where fs.realpathSync walks every component from JavaScript.
  try { return fs.realpathSync.native(p); } catch { return null; }
}

/**
 * What never changes for this process: its own user namespace's maps, whether the kernel has
 * time namespaces or the AppArmor exec attribute, its own namespace files. Read once.
 */
let constant: { ownMaps: UserMaps; timeNamespaces: boolean; apparmorExecAttr: boolean; ownNs: Record<string, NsFile> } | null = null;
function constantFacts() {
  return constant ??= {
    ownMaps: mapsOf('self'),
    timeNamespaces: fs.existsSync('/proc/self/ns/time'),
    apparmorExecAttr: fs.existsSync('/proc/self/attr/apparmor/exec'),
    ownNs: {},
  };
}

/** The kernel has time namespaces (/proc/self/ns/time): read once, as the create plan's facts have it. */
export const hostTimeNamespaces = (): boolean => constantFacts().timeNamespaces;

function nsFileOf(p: string): NsFile {
  // The daemon never changes its own namespaces: /proc/self/ns/* is read once.
  if (p.startsWith('/proc/self/ns/')) return constantFacts().ownNs[p] ??= readNsFile(p);
  return readNsFile(p);
}

function readNsFile(p: string): NsFile {
  try {
    const st = fs.statSync(p);
    return { dev: st.dev, ino: st.ino };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** /proc/<pid>/uid_map text as mappings. */
export function parseIdMap(text: string): IdMapping[] {
  return text.split('\n').filter((l) => l.trim()).map((l) => {
    const [containerID, hostID, size] = l.trim().split(/\s+/).map(Number);
    return { containerID, hostID, size };
  });
}

function readIdMap(file: string): IdMapping[] | null {
  try { return parseIdMap(fs.readFileSync(file, 'utf8')); } catch { return null; }
}

const mapsOf = (pid: string): UserMaps => ({ uid: readIdMap(`/proc/${pid}/uid_map`), gid: readIdMap(`/proc/${pid}/gid_map`) });

/** The container's /etc/passwd, read inside `root` (never through a symlink that leaves it). */
function passwdIn(root: string): string | null {
  try { return fs.readFileSync(secureJoin(root, '/etc/passwd'), 'utf8'); } catch { return null; }
}

/** What the process's ops read; /etc/passwd only when HOME is not in the environment (as before, when it was read lazily). */
function processFacts(root: string, proc: ProcessSpec): ProcessHostFacts {
  const home = (proc.env ?? []).some((e) => e.startsWith('HOME='));
  return { security: hostSecurity(), apparmorExecAttr: constantFacts().apparmorExecAttr, passwd: home ? null : passwdIn(root) };
}

/** The host's device nodes under /dev, breadth first (the order a match is looked for in). */
function hostDevNodes(): DevNode[] {
  const out: DevNode[] = [];
  const queue = ['/dev'];
  while (queue.length) {
    const dir = queue.shift()!;
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { continue; }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && p !== '/dev/pts' && p !== '/dev/shm') queue.push(p);
      else if (e.isBlockDevice() || e.isCharacterDevice()) {
        const st = statOf(p);
        if (st && (st.kind === 'chr' || st.kind === 'blk')) out.push({ path: p, kind: st.kind, major: st.major, minor: st.minor });
      }
    }
  }
  return out;
}

/** Everything buildPlan may look at for this input. */
export function readHostFacts(input: Pick<PlanInput, 'spec' | 'rootfs' | 'resolve' | 'inUserNs'> & Partial<Pick<PlanInput, 'stateDir' | 'overlay'>>): HostFacts {
  const { spec, rootfs } = input;
  const namespaces = spec.linux?.namespaces ?? [];
  const devices = spec.linux?.devices ?? [];
  const realpaths: HostFacts['realpaths'] = {};
  const stats: HostFacts['stats'] = {};
  const stat = (p: string) => { if (!Object.hasOwn(stats, p)) stats[p] = statOf(p); };
  // (An overlay's tmpfs is mounted on the state dir: its mount's propagation matters.)
  for (const p of new Set([rootfs, ...HOST_BIND_SOURCES, ...(spec.mounts ?? []).map((m) => m.source ?? ''), ...(input.overlay && input.stateDir ? [input.stateDir] : [])])) {
    realpaths[p] = realpathOf(p);
    stat(p);
  }
  // The rootfs's directories, for whether a user namespace's root can reach it.
  const real = realpaths[rootfs];
  if (real) for (let d = real; ; d = path.dirname(d)) { stat(d); if (d === '/') break; }
  const present: HostFacts['present'] = {};
  for (const d of devices) {
    stat(d.path);
    let host: string;
    try { host = input.resolve(d.path); } catch { continue; } // the planner meets the same error
    try { fs.lstatSync(host); present[host] = true; } catch { present[host] = false; }
  }
  // A device a user namespace binds from the host, not at its own path: looked for under /dev.
  const userns = namespaces.some((n) => n.type === 'user') || Boolean(input.inUserNs);
  const elsewhere = devices.some((d) => {
    const st = stats[d.path];
    return d.type !== 'p' && !(st && st.kind === (d.type === 'b' ? 'blk' : 'chr') && st.major === d.major && st.minor === d.minor);
  });
  const nsFiles: HostFacts['nsFiles'] = {};
  const procMaps: HostFacts['procMaps'] = {};
  const nsFile = (p: string) => { if (!Object.hasOwn(nsFiles, p)) nsFiles[p] = nsFileOf(p); };
  for (const p of ['/proc/self/ns/user', '/proc/self/ns/net']) nsFile(p);
  for (const n of namespaces) {
    if (!n.path) continue;
    nsFile(n.path);
    nsFile(`/proc/self/ns/${NS_PROC_NAME[n.type]}`);
    const pid = /^\/proc\/(\d+)\/ns\/[a-z_]+$/.exec(n.path)?.[1];
    if (pid) nsFile(`/proc/${pid}/ns/user`);
    if (pid && n.type === 'user') procMaps[pid] = mapsOf(pid);
  }
  let mountinfo: string | null;
  try { mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { mountinfo = null; }
  const interfaces = Object.keys(spec.linux?.netDevices ?? {}).length ? runtimeInterfaces() : null;
  return {
    ...processFacts(rootfs, spec.process),
    mountinfo, ownMaps: constantFacts().ownMaps, procMaps, timeNamespaces: constantFacts().timeNamespaces,
    realpaths, stats, present, nsFiles, devNodes: userns && elsewhere ? hostDevNodes() : null,
    interfaces: interfaces && [...interfaces],
  };
}

/** Everything buildExecPlan may look at for this input: the init's user namespace and root. */
export function readExecHostFacts(input: Pick<ExecPlanInput, 'initPid' | 'process'>): ExecHostFacts {
  const pid = input.initPid;
  let setgroupsDenied: boolean;
  try { setgroupsDenied = fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim() === 'deny'; } catch { setgroupsDenied = true; }
  return { ...processFacts(`/proc/${pid}/root`, input.process), maps: mapsOf(String(pid)), setgroupsDenied };
}
