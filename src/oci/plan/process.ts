// The process itself, shared by a container's init and its exec'd processes: stdio, cgroup
// joins (cloneInto), the fork, rlimits, capabilities, ids, environment, seccomp, up to its exec. Pure.
import type { PlanOp } from '../../nsinit/plan.js';
import type { SeccompLoad } from '../../seccomp/index.js';
import { capNamesMask, RLIMITS } from '../linux.js';
import { ioPriorityOp, memoryPolicyOp, personalityOp, schedulerOp } from '../process-attrs.js';
import { labelOps } from '../security.js';
import type { Spec } from '../spec.js';
import type { CgroupDirs, PlanInput, Personality, ProcessSpec } from './common.js';

/**
 * The home directory of `uid` in a container's /etc/passwd text (HostFacts.passwd), as runc
 * looks it up; "/" when there is no such file or user.
 */
export function homeIn(passwd: string | null, uid: number): string {
  if (passwd === null) return '/';
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && /^\d+$/.test(f[2]) && Number(f[2]) === uid) return f[5] || '/';
  }
  return '/';
}

/** The working directory is created (as root) if missing, like runc does. */
export function cwdMkdirs(cwd: string): PlanOp[] {
  const parts = cwd.split('/').filter(Boolean);
  return parts.map((_, i) => ({ op: 'mkdir', path: '/' + parts.slice(0, i + 1).join('/'), mode: 0o755 }) as PlanOp);
}

/**
 * The oom score and rlimits: raising either needs host capabilities, so with a user
 * namespace the monitor applies them before it enters it (the child inherits them).
 */
export function hostProcessOps(proc: ProcessSpec): PlanOp[] {
  const ops: PlanOp[] = [];
  if (proc.oomScoreAdj !== undefined) ops.push({ op: 'write', path: '/proc/self/oom_score_adj', value: String(proc.oomScoreAdj) });
  for (const r of proc.rlimits ?? []) ops.push({ op: 'rlimit', resource: RLIMITS.indexOf(r.type), soft: BigInt(r.soft), hard: BigInt(r.hard) });
  return ops;
}

/**
 * Everything about the process itself, shared by a container's init and exec'd processes
 * (without the hostProcessOps part when `withHostOps` is false: see there), up to its exec.
 * The seccomp filter goes where runc puts it: with noNewPrivileges as late as possible (after
 * the gate: nsinit loads it as exec's last step, so only execve runs under it), without it
 * while we still have CAP_SYS_ADMIN, before the capabilities and ids change.
 */
export interface ProcessOpsOptions {
  /** the hostProcessOps part too (false: the monitor did it before entering a user namespace) */
  withHostOps?: boolean;
  seccomp?: SeccompLoad;
  supervised?: boolean;
  unprivileged?: boolean;
  personality?: Personality;
  /** linux.memoryPolicy, for the init and exec'd processes */
  memoryPolicy?: NonNullable<Spec['linux']>['memoryPolicy'];
  /** HOME when the environment has none: the user's in the container's /etc/passwd (runc) */
  home?: () => string;
  /** a session keyring of the container's own to join (see sessionKeyring) */
  keyring?: string | null;
  /** an exec'd process: its cwd is not made (runc: chdir fails, nothing is created) */
  exec?: boolean;
  /** the host has /proc/self/attr/apparmor/exec (HostFacts.apparmorExecAttr) */
  apparmorExecAttr?: boolean;
  /** capabilities to drop from whatever the process has (a process without `capabilities`: --net-raw=false) */
  capdrop?: bigint;
}

/** runc's name for a container's session keyring; its processes join it instead of the caller's. */
export const sessionKeyring = (id: string): string => `_ses.${id}`;
/** KEY_GRP_SEARCH: the keyring is made searchable, as runc does after joining it. */
const KEY_GRP_SEARCH = 0x080000;

export function processOps(proc: ProcessSpec, o: ProcessOpsOptions = {}): PlanOp[] {
  const { withHostOps = true, seccomp, supervised = false, unprivileged = false, personality } = o;
  const ops: PlanOp[] = withHostOps ? hostProcessOps(proc) : [];
  const filter: PlanOp[] = seccomp ? [{ op: 'seccomp', flags: seccomp.filter.flags, program: seccomp.filter.program }] : [];
  // The init's working directory is made if missing (runc); an exec'd process's must exist.
  if (!o.exec) ops.push(...cwdMkdirs(proc.cwd));
  // Scheduling, I/O priority and personality while still root with every capability (an RT
  // policy needs CAP_SYS_NICE); all three survive the exec.
  if (proc.scheduler) ops.push(schedulerOp(proc.scheduler, 'config.json: process.scheduler'));
  if (proc.ioPriority) ops.push(ioPriorityOp(proc.ioPriority, 'config.json: process.ioPriority'));
  if (personality) ops.push(personalityOp(personality));
  if (o.memoryPolicy) ops.push(memoryPolicyOp(o.memoryPolicy, 'config.json: linux.memoryPolicy'));
  ops.push(...labelOps(proc, Boolean(o.apparmorExecAttr)));
  if (o.keyring) ops.push({ op: 'keyring', name: o.keyring, mask: 0xffffffff, set: KEY_GRP_SEARCH });
  if (!proc.noNewPrivileges) ops.push(...filter);
  const caps = proc.capabilities;
  if (caps) ops.push({ op: 'capbset', mask: capNamesMask(caps.bounding) }, { op: 'keepcaps' });
  else if (o.capdrop) ops.push({ op: 'capdrop', mask: o.capdrop });
  const user = proc.user;
  // The working directory is entered as root first, and again as the user only if root could not (runc).
  ops.push({ op: 'chdir-early', path: proc.cwd }, { op: 'fix-stdio', uid: user.uid });
  // Rootless: no setgroups(2), as runc (additional groups were refused above; setgroups may be denied).
  if (!unprivileged) ops.push({ op: 'setgroups', gids: user.additionalGids ?? [] });
  ops.push({ op: 'setgid', gid: user.gid }, { op: 'setuid', uid: user.uid });
  if (caps) {
    ops.push(
      { op: 'capset', effective: capNamesMask(caps.effective), permitted: capNamesMask(caps.permitted), inheritable: capNamesMask(caps.inheritable) },
      // The kernel only lets a capability be ambient if it is permitted and inheritable;
      // runc warns and goes on when asked for more, runa keeps the allowed part.
      { op: 'ambient', mask: capNamesMask(caps.ambient) & capNamesMask(caps.inheritable) & capNamesMask(caps.permitted) },
    );
  }
  if (proc.noNewPrivileges) ops.push({ op: 'nonewprivs' });
  ops.push({ op: 'chdir-late' }, { op: 'umask', mode: user.umask ?? 0o022 });
  const env = proc.env ?? [];
  for (const entry of env) ops.push({ op: 'env', entry });
  if (!env.some((e) => e.startsWith('HOME='))) ops.push({ op: 'env', entry: `HOME=${o.home?.() ?? (user.uid === 0 ? '/root' : '/')}` });
  for (const value of proc.args) ops.push({ op: 'arg', value });
  // pdeathsig again after the process's own setuid/setgid: a credential change clears it.
  ops.push(...deathsigOps(supervised));
  // With noNewPrivileges the filter is loaded last: nsinit loads one given after the gate right
  // before execve (a listener's fd goes to the monitor over the setup socket: before the gate).
  const late = proc.noNewPrivileges && !seccomp?.filter.notify;
  if (proc.noNewPrivileges && !late) ops.push(...filter);
  ops.push({ op: 'gate' }, ...(late ? filter : []), { op: 'exec' });
  return ops;
}

/**
 * The process is the monitor's child, or (supervised by the caller) the spawner's; with `cgroup`
 * it is created in that cgroup2 directory (see cloneInto); `newPid`: as the first process of a
 * new pid namespace, made by the fork itself.
 */
export const forkOp = (supervised?: boolean, cgroup?: string, newPid?: boolean): PlanOp =>
  ({ op: supervised ? 'fork-sibling' : 'fork', ...(cgroup ? { cgroup } : {}), ...(newPid ? { newPid } : {}) });

/**
 * How the process gets into the child's cgroup dirs (CgroupDirs.child): the cgroup2 one at its
 * birth (`cgroup`, for forkOp: clone3 CLONE_INTO_CGROUP, Linux 5.7), the others (v1 hierarchies)
 * by a write of cgroup.procs right after the fork (`writes`, for joinCgroup). A write takes the
 * kernel's cgroup_threadgroup_rwsem for writing, and its first writer after a quiet spell waits
 * out an RCU grace period (4-20 ms on the hosts measured) on run's and exec's critical path; a
 * clone into the cgroup takes it for reading only. nsinit falls back to the write where the
 * kernel cannot clone into it. `byWrite`: the process must run outside the cgroup first (exec's
 * execCPUAffinity.initial, whose CPUs hold until the join): every dir by write.
 */
export function cloneInto(dirs: CgroupDirs | undefined, byWrite = false): { cgroup?: string; writes: string[] } {
  const child = dirs?.child ?? [];
  const cgroup = !byWrite && dirs?.cgroup2 && child.includes(dirs.cgroup2) ? dirs.cgroup2 : undefined;
  return { cgroup, writes: child.filter((d) => d !== cgroup) };
}
/** A monitor's child dies with it; a supervised process outlives the spawner, its parent. */
export const deathsigOps = (supervised?: boolean): PlanOp[] => (supervised ? [] : [{ op: 'pdeathsig', signal: 9 }]);

/**
 * With a console socket the process's stdio is the pty: the monitor (and the process until its
 * console op) let go of the caller's stdio, so that a caller reading the runtime's output to
 * EOF is not held until the container exits (runc's pipes close when runc exits).
 */
export function stdioOps(console: PlanInput['console']): PlanOp[] {
  return console === 'socket' ? [{ op: 'stdio-null' }] : [];
}

/** The monitor hands a seccomp listener fd to the runtime's listener socket. */
export function listenerOps(seccomp?: SeccompLoad): PlanOp[] {
  const path = seccomp?.filter.listenerPath;
  if (!seccomp?.filter.notify || !path || seccomp.listenerState === undefined) return [];
  return [{ op: 'seccomp-listener', path, state: seccomp.listenerState }];
}

export function joinCgroup(dirs: string[] = []): PlanOp[] {
  return dirs.map((d) => ({ op: 'write', path: `${d}/cgroup.procs`, value: '0' }) as PlanOp);
}

/** process.consoleSize on the new pty (runc: only when both are set). */
export function winsizeOps(proc: ProcessSpec): PlanOp[] {
  const c = proc.consoleSize;
  return c && c.height && c.width ? [{ op: 'winsize', rows: c.height, cols: c.width }] : [];
}

/** --pidfd-socket: the monitor connects while it still sees the caller's paths. */
export const pidfdOps = (socket?: string): PlanOp[] => (socket ? [{ op: 'pidfd-socket', path: socket }] : []);

/** linux.intelRdt: the process writes itself (0) into its class's tasks, right after its cgroup join. */
export const joinRdt = (dir?: string): PlanOp[] => (dir ? [{ op: 'write', path: `${dir}/tasks`, value: '0' }] : []);
