// From a validated spec to the plan nsinit executes. All policy lives here, none in C.
import path from 'node:path';
import { RunaError } from '../errors.js';
import { MS, type PlanOp } from '../nsinit/plan.js';
import type { Mount, Spec } from './spec.js';
import type { HostCgroupMount } from '../actors/gofer.js';
import { capNamesMask, NS_PROC_NAME, RLIMITS } from './linux.js';

const FLAG_OPTIONS: Record<string, { set?: number; clear?: number }> = {
  defaults: {}, rw: { clear: MS.RDONLY }, ro: { set: MS.RDONLY },
  suid: { clear: MS.NOSUID }, nosuid: { set: MS.NOSUID }, dev: { clear: MS.NODEV }, nodev: { set: MS.NODEV },
  exec: { clear: MS.NOEXEC }, noexec: { set: MS.NOEXEC }, sync: { set: MS.SYNCHRONOUS }, async: { clear: MS.SYNCHRONOUS },
  dirsync: { set: MS.DIRSYNC }, remount: { set: MS.REMOUNT }, mand: { set: MS.MANDLOCK }, nomand: { clear: MS.MANDLOCK },
  atime: { clear: MS.NOATIME }, noatime: { set: MS.NOATIME }, diratime: { clear: MS.NODIRATIME }, nodiratime: { set: MS.NODIRATIME },
  bind: { set: MS.BIND }, rbind: { set: MS.BIND | MS.REC }, relatime: { set: MS.RELATIME }, norelatime: { clear: MS.RELATIME },
  strictatime: { set: MS.STRICTATIME }, nostrictatime: { clear: MS.STRICTATIME }, lazytime: { set: MS.LAZYTIME },
  nolazytime: { clear: MS.LAZYTIME }, nosymfollow: { set: MS.NOSYMFOLLOW }, symfollow: { clear: MS.NOSYMFOLLOW },
};
const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC, shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC, unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

export interface MountOptions { flags: number; propagation: number[]; data: string }

export function parseMountOptions(options: string[] = []): MountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const o of options) {
    const f = FLAG_OPTIONS[o];
    if (f) { flags = (flags | (f.set ?? 0)) & ~(f.clear ?? 0); continue; }
    if (o in PROPAGATION) { propagation.push(PROPAGATION[o]); continue; }
    data.push(o);
  }
  return { flags, propagation, data: data.join(',') };
}

const NS_FLAG: Record<string, string> = { pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup', mount: 'mnt' };

export interface PlanInput {
  spec: Spec;
  stateDir: string;
  /** host path of the rootfs (the lower layer when overlay is set) */
  rootfs: string;
  /** resolve a container path to a host path inside the rootfs (the Gofer's secureJoin) */
  resolve(containerPath: string): string;
  /** a writable in-memory layer over the rootfs (runsc --overlay) */
  overlay?: boolean;
  hostCgroups: HostCgroupMount[];
  /** the container's cgroup directories (see CgroupDirs) */
  cgroupDirs?: CgroupDirs;
  /** process.terminal: a pty sent over --console-socket, or relayed by the monitor */
  console?: 'socket' | 'proxy' | null;
  consoleSocket?: string;
}

const DEFAULT_DEVICES: Array<[string, number, number]> = [
  ['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0],
];
const S_IFCHR = 0o020000;

export function buildPlan(input: PlanInput): PlanOp[] {
  const { spec } = input;
  const namespaces = spec.linux?.namespaces ?? [];
  for (const ns of namespaces) {
    if (ns.type === 'user' || ns.type === 'time') throw new RunaError('unsupported', `config.json: linux.namespaces: ${ns.type} namespaces are not supported yet`);
  }
  const joined = new Map<string, string>(namespaces.filter((n) => n.path).map((n) => [n.type, n.path!]));
  const types = new Set<string>(namespaces.map((n) => n.type));
  if (!types.has('mount')) throw new RunaError('invalid_spec', 'config.json: linux.namespaces: a mount namespace is required');
  if (spec.hostname !== undefined && spec.hostname !== '' && !types.has('uts')) {
    throw new RunaError('invalid_spec', 'config.json: hostname: unable to set hostname without a private UTS namespace');
  }

  const plan: PlanOp[] = [{ op: 'statedir', path: input.stateDir }, ...joinCgroup(input.cgroupDirs?.monitor)];
  // pid last: setns/unshare of a pid namespace only applies to the children forked after it.
  const order = ['ipc', 'uts', 'network', 'cgroup', 'pid'].filter((t) => types.has(t));
  for (const t of order) if (joined.has(t)) plan.push({ op: 'setns', path: joined.get(t)!, nstype: NS_FLAG[t] as 'ipc' });
  const fresh = order.filter((t) => !joined.has(t)).map((t) => NS_FLAG[t]);
  if (fresh.length) plan.push({ op: 'unshare', namespaces: fresh });
  if (types.has('uts') && spec.hostname) plan.push({ op: 'sethostname', name: spec.hostname });
  if (types.has('network')) plan.push({ op: 'loopback' });
  plan.push({ op: 'fork' }, { op: 'pdeathsig', signal: 9 }, ...joinCgroup(input.cgroupDirs?.child));
  if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
  if (joined.has('mount')) plan.push({ op: 'setns', path: joined.get('mount')!, nstype: 'mnt' });
  else plan.push({ op: 'unshare', namespaces: ['mnt'] });

  const propagation = spec.linux?.rootfsPropagation ? PROPAGATION[spec.linux.rootfsPropagation] : MS.SLAVE | MS.REC;
  plan.push({ op: 'mount', source: '', target: '/', fstype: '', flags: propagation, data: '' });

  let root = input.rootfs;
  let resolve = input.resolve;
  if (input.overlay) {
    const ovl = path.join(input.stateDir, 'overlay');
    if (/[,:]/.test(input.rootfs)) throw new RunaError('invalid_spec', `overlay: the root ${input.rootfs} contains ',' or ':'`);
    plan.push(
      { op: 'mount', source: 'tmpfs', target: ovl, fstype: 'tmpfs', flags: 0, data: 'mode=0755' },
      { op: 'mkdir', path: `${ovl}/upper`, mode: 0o755 }, { op: 'mkdir', path: `${ovl}/work`, mode: 0o755 },
      { op: 'mkdir', path: `${ovl}/merged`, mode: 0o755 },
      { op: 'mount', source: 'overlay', target: `${ovl}/merged`, fstype: 'overlay', flags: 0, data: `lowerdir=${input.rootfs},upperdir=${ovl}/upper,workdir=${ovl}/work` },
    );
    root = `${ovl}/merged`;
    // Paths were resolved against the lower layer; the merged view has the same tree.
    resolve = (p) => path.join(root, path.relative(input.rootfs, input.resolve(p)));
  } else {
    plan.push({ op: 'mount', source: root, target: root, fstype: '', flags: MS.BIND | MS.REC, data: '' });
  }

  let devIsTmpfs = false;
  let hasPts = false;
  for (const m of spec.mounts ?? []) {
    const target = resolve(m.destination);
    plan.push(...mkdirs(root, target));
    if (m.type === 'cgroup') { plan.push(...cgroupMounts(target, m, input.hostCgroups)); continue; }
    plan.push(...mountOps(m, target));
    if (m.destination === '/dev' && m.type === 'tmpfs') devIsTmpfs = true;
    if (m.destination === '/dev/pts') hasPts = true;
  }
  if (devIsTmpfs) {
    const dev = resolve('/dev');
    for (const [name, major, minor] of DEFAULT_DEVICES) plan.push({ op: 'mknod', path: `${dev}/${name}`, mode: S_IFCHR | 0o666, major, minor });
    plan.push(
      { op: 'symlink', target: '/proc/self/fd', linkpath: `${dev}/fd` },
      { op: 'symlink', target: '/proc/self/fd/0', linkpath: `${dev}/stdin` },
      { op: 'symlink', target: '/proc/self/fd/1', linkpath: `${dev}/stdout` },
      { op: 'symlink', target: '/proc/self/fd/2', linkpath: `${dev}/stderr` },
    );
    if (hasPts) plan.push({ op: 'symlink', target: 'pts/ptmx', linkpath: `${dev}/ptmx` });
  }
  for (const d of spec.linux?.devices ?? []) {
    const target = resolve(d.path);
    plan.push(...mkdirs(root, path.dirname(target)));
    const type = d.type === 'b' ? 0o060000 : d.type === 'p' ? 0o010000 : S_IFCHR;
    if (d.type !== 'p' && (d.major === undefined || d.minor === undefined)) {
      throw new RunaError('invalid_spec', `config.json: linux.devices: ${d.path}: major and minor are required for type ${d.type}`);
    }
    plan.push({ op: 'mknod', path: target, mode: type | ((d.fileMode ?? 0o666) & 0o7777), major: d.major ?? 0, minor: d.minor ?? 0 });
  }

  plan.push({ op: 'pivot_root', newRoot: root }, ...cwdMkdirs(spec.process.cwd));
  if (spec.root.readonly) plan.push({ op: 'mount', source: '', target: '/', fstype: '', flags: MS.REMOUNT | MS.BIND | MS.RDONLY, data: '' });

  // After pivot_root every path is the container's own.
  for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) {
    plan.push({ op: 'write', path: `/proc/sys/${key.replace(/\./g, '/')}`, value });
  }
  for (const p of spec.linux?.maskedPaths ?? []) plan.push({ op: 'mask', path: p });
  for (const p of spec.linux?.readonlyPaths ?? []) plan.push({ op: 'readonly', path: p });
  if (input.console === 'socket') plan.push({ op: 'console' });
  if (input.console === 'proxy') plan.push({ op: 'console-proxy' });
  plan.push(...processOps(spec.process), { op: 'gate' }, { op: 'exec' });
  return plan;
}

export type ProcessSpec = Spec['process'];

/** The working directory is created (as root) if missing, like runc does. */
function cwdMkdirs(cwd: string): PlanOp[] {
  const parts = cwd.split('/').filter(Boolean);
  return parts.map((_, i) => ({ op: 'mkdir', path: '/' + parts.slice(0, i + 1).join('/'), mode: 0o755 }) as PlanOp);
}

/** Everything about the process itself, shared by a container's init and exec'd processes. */
export function processOps(proc: ProcessSpec): PlanOp[] {
  const ops: PlanOp[] = [];
  if (proc.oomScoreAdj !== undefined) ops.push({ op: 'write', path: '/proc/self/oom_score_adj', value: String(proc.oomScoreAdj) });
  for (const r of proc.rlimits ?? []) ops.push({ op: 'rlimit', resource: RLIMITS.indexOf(r.type), soft: BigInt(r.soft), hard: BigInt(r.hard) });
  ops.push(...cwdMkdirs(proc.cwd));
  const caps = proc.capabilities;
  if (caps) ops.push({ op: 'capbset', mask: capNamesMask(caps.bounding) }, { op: 'keepcaps' });
  const user = proc.user;
  ops.push({ op: 'setgroups', gids: user.additionalGids ?? [] }, { op: 'setgid', gid: user.gid }, { op: 'setuid', uid: user.uid });
  if (caps) {
    ops.push(
      { op: 'capset', effective: capNamesMask(caps.effective), permitted: capNamesMask(caps.permitted), inheritable: capNamesMask(caps.inheritable) },
      // The kernel only lets a capability be ambient if it is permitted and inheritable;
      // runc warns and goes on when asked for more, runa keeps the allowed part.
      { op: 'ambient', mask: capNamesMask(caps.ambient) & capNamesMask(caps.inheritable) & capNamesMask(caps.permitted) },
    );
  }
  if (proc.noNewPrivileges) ops.push({ op: 'nonewprivs' });
  ops.push({ op: 'chdir', path: proc.cwd }, { op: 'umask', mode: user.umask ?? 0o022 });
  const env = proc.env ?? [];
  for (const entry of env) ops.push({ op: 'env', entry });
  if (!env.some((e) => e.startsWith('HOME='))) ops.push({ op: 'env', entry: `HOME=${user.uid === 0 ? '/root' : '/'}` });
  for (const value of proc.args) ops.push({ op: 'arg', value });
  return ops;
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
}

/**
 * Where each process of a container goes. The monitor joins every hierarchy that cannot
 * freeze it (`monitor`), before it creates the cgroup namespace; the container's own
 * processes also join the freezing ones (`child`: the v1 freezer, the v2 unified cgroup) right
 * after the fork, before the user program runs. A frozen monitor could not serve `kill -9`
 * of a paused container.
 */
export interface CgroupDirs { monitor: string[]; child: string[] }

function joinCgroup(dirs: string[] = []): PlanOp[] {
  return dirs.map((d) => ({ op: 'write', path: `${d}/cgroup.procs`, value: '0' }) as PlanOp);
}

/** An exec'd process: join the init's namespaces (pid before the fork, mount in the child). */
export function buildExecPlan(input: ExecPlanInput): PlanOp[] {
  const ns = (t: string) => `/proc/${input.initPid}/ns/${NS_PROC_NAME[t]}`;
  const plan: PlanOp[] = [{ op: 'statedir', path: input.execDir }, ...joinCgroup(input.cgroupDirs?.monitor)];
  for (const t of ['ipc', 'uts', 'network', 'cgroup', 'pid'] as const) {
    if (input.namespaces.includes(t)) plan.push({ op: 'setns', path: ns(t), nstype: NS_FLAG[t] as 'ipc' });
  }
  plan.push({ op: 'fork' }, { op: 'pdeathsig', signal: 9 }, ...joinCgroup(input.cgroupDirs?.child));
  if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
  plan.push({ op: 'setns', path: ns('mount'), nstype: 'mnt' });
  if (input.console === 'socket') plan.push({ op: 'console' });
  if (input.console === 'proxy') plan.push({ op: 'console-proxy' });
  plan.push(...processOps(input.process), { op: 'gate' }, { op: 'exec' });
  return plan;
}

/** mkdir each component below the root (EEXIST is fine in nsinit). */
function mkdirs(root: string, target: string): PlanOp[] {
  const rel = path.relative(root, target);
  if (rel.startsWith('..')) throw new RunaError('invalid_mount', `mount destination ${target} escapes the rootfs`);
  const ops: PlanOp[] = [];
  let cur = root;
  for (const part of rel.split('/').filter(Boolean)) {
    cur = path.join(cur, part);
    ops.push({ op: 'mkdir', path: cur, mode: 0o755 });
  }
  return ops;
}

function mountOps(m: Mount, target: string): PlanOp[] {
  const o = parseMountOptions(m.options);
  const ops: PlanOp[] = [];
  const isBind = (o.flags & MS.BIND) !== 0 || m.type === 'bind';
  if (isBind) {
    const source = m.source ?? '';
    ops.push({ op: 'mount', source, target, fstype: '', flags: MS.BIND | (o.flags & MS.REC), data: '' });
    const rest = o.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
    if (rest) ops.push({ op: 'mount', source: '', target, fstype: '', flags: MS.REMOUNT | MS.BIND | rest, data: '' });
  } else {
    ops.push({ op: 'mount', source: m.source ?? m.type ?? 'none', target, fstype: m.type ?? '', flags: o.flags, data: o.data });
  }
  for (const p of o.propagation) ops.push({ op: 'mount', source: '', target, fstype: '', flags: p, data: '' });
  return ops;
}

/** A `cgroup` mount: a tmpfs holding each host hierarchy mounted afresh (the container's cgroup namespace view). */
function cgroupMounts(target: string, m: Mount, hostCgroups: HostCgroupMount[]): PlanOp[] {
  const o = parseMountOptions(m.options);
  const base = o.flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME);
  const ops: PlanOp[] = [{ op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: base, data: 'mode=755' }];
  const links: PlanOp[] = [];
  for (const h of hostCgroups) {
    if (!h.dir || h.dir.includes('/')) continue;
    const dir = path.join(target, h.dir);
    ops.push({ op: 'mkdir', path: dir, mode: 0o755 });
    ops.push({ op: 'mount', source: h.fstype === 'cgroup2' ? 'cgroup2' : 'cgroup', target: dir, fstype: h.fstype, flags: base | (o.flags & MS.RDONLY), data: h.options });
    // Co-mounted controllers (cpu,cpuacct) get the usual per-controller names as symlinks.
    const ctrls = h.options.split(',').filter((c) => c && !c.startsWith('name=') && c !== h.dir);
    if (h.fstype === 'cgroup' && h.dir.includes(',')) for (const c of ctrls) links.push({ op: 'symlink', target: h.dir, linkpath: path.join(target, c) });
  }
  ops.push(...links);
  if (o.flags & MS.RDONLY) ops.push({ op: 'mount', source: '', target, fstype: '', flags: MS.REMOUNT | MS.BIND | MS.RDONLY | base, data: '' });
  return ops;
}
