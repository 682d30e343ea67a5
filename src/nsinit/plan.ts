// The plan nsinit executes (native/PROTOCOL.md): ops with fixed arity, NUL-terminated tokens.

/** Namespace type names nsinit knows (unshare, setns). */
export type NamespaceType = 'mnt' | 'uts' | 'ipc' | 'net' | 'pid' | 'cgroup' | 'user' | 'time';
/** An rlimit value: RLIM_INFINITY is 'unlimited' (or 2^64-1). */
export type RlimitValue = number | bigint | 'unlimited';

export type PlanOp =
  | { op: 'statedir'; path: string }
  /**
   * Monitor only, before `fork` and before any other `unshare`: unshare a user namespace and
   * have a helper left outside write these exact uid_map/gid_map texts (see idMap).
   */
  | { op: 'userns'; uidMap: string; gidMap: string }
  /**
   * `userns` for a monitor without host privileges (rootless): it stays dumpable while the maps
   * are written (else /proc/<pid> is root's), the writer writes SETGROUPS (`deny` or nothing)
   * to /proc/<pid>/setgroups first, and each map is written directly or, when a helper is
   * given, by running it as `HELPER <pid> <the map's numbers>` (newuidmap, newgidmap).
   */
  | { op: 'userns-rootless'; uidMap: string; gidMap: string; setgroups: 'deny' | ''; uidHelper: string; gidHelper: string }
  | { op: 'unshare'; namespaces: string[] }
  | { op: 'setns'; path: string; nstype: NamespaceType }
  | { op: 'sethostname'; name: string }
  | { op: 'loopback' }
  | { op: 'pdeathsig'; signal: number }
  /**
   * The monitor forks; with `cgroup` (a cgroup2 directory) the child is created in it
   * (clone3 CLONE_INTO_CGROUP: no write to cgroup.procs, whose first writer after a quiet spell
   * waits out an RCU grace period). Where the kernel cannot, nsinit forks and the child writes
   * itself into DIR/cgroup.procs, as a `write` would (native/PROTOCOL.md). `newPid`: the child
   * is the first process of a new pid namespace, made by the clone (CLONE_NEWPID), or by
   * `unshare` right before the fork where the clone could not be made.
   */
  | { op: 'fork'; cgroup?: string; newPid?: boolean }
  /** Like fork, but the child is the spawner's (clone CLONE_PARENT); the monitor watches it by pidfd. */
  | { op: 'fork-sibling'; cgroup?: string; newPid?: boolean }
  /**
   * The container's root, opened once (after its bind mount): a relative path in a later op
   * lies inside it and nsinit resolves it there with openat2(RESOLVE_IN_ROOT), never by host
   * path (see inRoot). An absolute path is the process's own.
   */
  | { op: 'rootfs'; path: string }
  | { op: 'mount'; source: string; target: string; fstype: string; flags: number; data: string }
  /** Monitor, before the user namespace: clone the mount tree at PATH (detached, recursive or not) while still host root */
  | { op: 'hold'; path: string; recursive: boolean }
  /** attach the INDEXth `hold` at TARGET (move_mount); SOURCE only names it in errors */
  | { op: 'mount-held'; index: number; target: string; source: string }
  /** mount_setattr(2) with AT_RECURSIVE on PATH: set and clear MOUNT_ATTR_* on the whole mount tree */
  | { op: 'mount-setattr'; path: string; set: number; clear: number }
  /** mount, then copy what the target directory held into the new mount (runc's tmpcopyup) */
  | { op: 'mount-copyup'; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'mknod'; path: string; mode: number; major: number; minor: number }
  /** An empty regular file (a bind-mount target, e.g. for a device node); an existing path is fine. */
  | { op: 'mkfile'; path: string; mode: number }
  | { op: 'symlink'; target: string; linkpath: string }
  | { op: 'pivot_root'; newRoot: string }
  | { op: 'chdir'; path: string }
  /** chdir while still root; a permission error leaves it to chdir-late, as the process's user */
  | { op: 'chdir-early'; path: string }
  | { op: 'chdir-late' }
  /** fds 0-2 become UID's (not /dev/null, not already UID's), before the credential change */
  | { op: 'fix-stdio'; uid: number }
  | { op: 'umask'; mode: number }
  | { op: 'write'; path: string; value: string }
  | { op: 'mask'; path: string }
  | { op: 'readonly'; path: string }
  | { op: 'setsid' }
  | { op: 'console-connect'; socketPath: string }
  | { op: 'console' }
  | { op: 'console-proxy' }
  | { op: 'rlimit'; resource: number; soft: RlimitValue; hard: RlimitValue }
  | { op: 'nonewprivs' }
  /** Capability masks: bit n = capability n (see CAP, capMask). */
  | { op: 'capbset'; mask: bigint }
  | { op: 'keepcaps' }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'setgid'; gid: number }
  | { op: 'setuid'; uid: number }
  | { op: 'capset'; effective: bigint; permitted: bigint; inheritable: bigint }
  | { op: 'ambient'; mask: bigint }
  /** drop these capabilities from every set the process has (bounding, effective, permitted, inheritable; ambient with them) */
  | { op: 'capdrop'; mask: bigint }
  | { op: 'env'; entry: string }
  | { op: 'arg'; value: string }
  /** Signals (bit n = signal n) that end the child while it waits at the gate (the init of a pid namespace with status 128+n). */
  | { op: 'gate-signals'; mask: bigint }
  | { op: 'gate' }
  /**
   * Pause for OCI hooks: nsinit writes `hook\t<name>\t<pid>\n` on fd 3 and waits for `ok\n`
   * or `fail\t<message>\n` from the spawner (see SyncLine). `name` is 1-64 bytes of
   * [A-Za-z0-9_.-]; fd 3 must be a socket (Node's 'pipe' stdio is one).
   */
  | { op: 'hookpoint'; name: string }
  /** Load a seccomp filter (a sock_filter array) with seccomp(2) FLAGS; a listener fd goes to the monitor. */
  | { op: 'seccomp'; flags: number; program: Buffer }
  /** Monitor, before `fork`: send a listener fd from `seccomp` to PATH with STATE (`@PID@` = the child's pid). */
  | { op: 'seccomp-listener'; path: string; state: string }
  /** Put /dev/null on fds 0-2 (the monitor, when a console takes the process's stdio). */
  | { op: 'stdio-null' }
  /** sched_setattr(2): numeric SCHED_* policy and SCHED_FLAG_* bits; deadline times in ns */
  | { op: 'sched'; policy: number; flags: number; nice: number; priority: number; runtime: number; deadline: number; period: number }
  /** ioprio_set(2) on this process: class << 13 | level */
  | { op: 'ioprio'; value: number }
  /** sched_setaffinity(2) to these CPUs */
  | { op: 'affinity'; cpus: number[] }
  /** personality(2): execution domain | flags */
  | { op: 'personality'; value: number }
  | { op: 'setdomainname'; name: string }
  /**
   * Join (or make) the session keyring NAME; then its permissions become (perm & MASK) | SET.
   * A kernel without keyrings (ENOSYS) leaves the caller's, as runc does.
   */
  | { op: 'keyring'; name: string; mask: number; set: number }
  /** set_mempolicy(2): MODE (MPOL_* | MPOL_F_* flags) over these NUMA nodes */
  | { op: 'mempolicy'; mode: number; nodes: number[] }
  /** TIOCSWINSZ on stdin (the pty, after console or console-proxy) */
  | { op: 'winsize'; rows: number; cols: number }
  /** Monitor, before `fork`: connect to PATH; the child's pidfd is sent there once it exists */
  | { op: 'pidfd-socket'; path: string }
  /** fchownat(AT_SYMLINK_NOFOLLOW): the owner of a node the plan made */
  | { op: 'lchown'; path: string; uid: number; gid: number }
  /** mkdir PATH with the owner and mode REF has (stat, following symlinks): an overlay's upper layer */
  | { op: 'mkdir-like'; path: string; ref: string }
  /**
   * Monitor, before `userns`, any `setns` of a network namespace and `unshare`: queue the runtime's
   * interface HOST, to be named NAME in the container, with a helper left in the runtime's namespaces.
   */
  | { op: 'netdev'; host: string; name: string }
  /** Monitor, in the container's network namespace, before `fork`: the helper moves the queued interfaces into it. */
  | { op: 'netdev-move' }
  /** Monitor, while host root: a user namespace with exactly these maps for idmapped mounts (the next index, from 0). */
  | { op: 'idmap-userns'; uidMap: string; gidMap: string }
  /** Make the INDEXth `hold` an idmapped mount with the USERNSth `idmap-userns`; recursive: its whole tree (ridmap). */
  | { op: 'hold-idmap'; index: number; userns: number; recursive: boolean }
  /**
   * runsc's --strace, monitor only, before `fork` (nsinit takes these from `--strace PLANFILE`):
   * the monitor traces the process from the gate on (ptrace) and appends one line per syscall to
   * LOG in FORMAT; strings and buffers are cut after SIZE bytes; ALL: syscalls no `strace-call`
   * names are written too, as `syscall_0xNR(…)`.
   */
  | { op: 'strace'; log: string; format: 'text' | 'json'; size: number; all: boolean }
  /** One syscall to trace: its number, name and its arguments' kinds (`fd,s,of,om`, then `=x` for a hex result). */
  | { op: 'strace-call'; nr: number; name: string; kinds: string }
  /**
   * Monitor (runa restore): fork; the child runs the next ops up to `exec` (of `criu restore
   * --restore-detached --pidfile PIDFILE`). The monitor waits for CRIU, reads the restored
   * init's pid from PIDFILE and follows it: sibling (--restore-sibling), its own child; else by
   * pidfd, once CRIU's exit reparented it to the caller's subreaper.
   */
  | { op: 'criu-restore'; pidFile: string; sibling: boolean }
  | { op: 'exec' };

/** What nsinit accepts as a hookpoint name. */
export const HOOKPOINT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const hex = (mask: bigint): string => '0x' + BigInt.asUintN(64, mask).toString(16);
const rlim = (v: RlimitValue): string => (v === 'unlimited' ? v : String(v));

function tokens(p: PlanOp): string[] {
  switch (p.op) {
    case 'statedir': case 'rootfs': return [p.path];
    case 'userns': return [p.uidMap, p.gidMap];
    case 'userns-rootless': return [p.uidMap, p.gidMap, p.setgroups, p.uidHelper, p.gidHelper];
    case 'unshare': return [p.namespaces.join(',')];
    case 'setns': return [p.path, p.nstype];
    case 'sethostname': case 'setdomainname': return [p.name];
    case 'sched': return [p.policy, p.flags, p.nice, p.priority, p.runtime, p.deadline, p.period].map(String);
    case 'ioprio': case 'personality': return [String(p.value)];
    case 'affinity': return [p.cpus.join(',')];
    case 'mempolicy': return [String(p.mode), p.nodes.join(',')];
    case 'winsize': return [String(p.rows), String(p.cols)];
    case 'pidfd-socket': return [p.path];
    case 'lchown': return [p.path, String(p.uid), String(p.gid)];
    case 'mkdir-like': return [p.path, p.ref];
    case 'keyring': return [p.name, '0x' + p.mask.toString(16), '0x' + p.set.toString(16)];
    case 'netdev': return [p.host, p.name];
    case 'idmap-userns': return [p.uidMap, p.gidMap];
    case 'hold-idmap': return [String(p.index), String(p.userns), p.recursive ? '1' : '0'];
    case 'strace': return [p.log, p.format, String(p.size), p.all ? '1' : '0'];
    case 'strace-call': return [String(p.nr), p.name, p.kinds];
    case 'criu-restore': return [p.pidFile, p.sibling ? '1' : '0'];
    case 'pdeathsig': return [String(p.signal)];
    case 'fork': case 'fork-sibling': return [p.cgroup ?? '', p.newPid ? '1' : '0'];
    case 'hold': return [p.path, p.recursive ? '1' : '0'];
    case 'mount-held': return [String(p.index), p.target, p.source];
    case 'mount-setattr': return [p.path, hex(BigInt(p.set)), hex(BigInt(p.clear))];
    case 'mount': case 'mount-copyup': return [p.source, p.target, p.fstype, String(p.flags), p.data];
    case 'mkdir': return [p.path, '0' + p.mode.toString(8)];
    case 'mknod': return [p.path, '0' + p.mode.toString(8), String(p.major), String(p.minor)];
    case 'mkfile': return [p.path, '0' + p.mode.toString(8)];
    case 'symlink': return [p.target, p.linkpath];
    case 'pivot_root': return [p.newRoot];
    case 'chdir': case 'chdir-early': return [p.path];
    case 'umask': return ['0' + p.mode.toString(8)];
    case 'write': return [p.path, p.value];
    case 'mask': return [p.path];
    case 'readonly': return [p.path];
    case 'console-connect': return [p.socketPath];
    case 'rlimit': return [String(p.resource), rlim(p.soft), rlim(p.hard)];
    case 'capbset': case 'gate-signals': return [hex(p.mask)];
    case 'capset': return [hex(p.effective), hex(p.permitted), hex(p.inheritable)];
    case 'ambient': case 'capdrop': return [hex(p.mask)];
    case 'setgroups': return [p.gids.join(',')];
    case 'setgid': return [String(p.gid)];
    case 'setuid': case 'fix-stdio': return [String(p.uid)];
    case 'env': return [p.entry];
    case 'arg': return [p.value];
    case 'seccomp': return [String(p.flags), p.program.toString('hex')];
    case 'seccomp-listener': return [p.path, p.state];
    case 'hookpoint':
      if (!HOOKPOINT_NAME.test(p.name)) throw new Error(`plan hookpoint: invalid name ${JSON.stringify(p.name)}`);
      return [p.name];
    case 'loopback': case 'chdir-late': case 'gate': case 'exec': case 'setsid': case 'console':
    case 'console-proxy': case 'nonewprivs': case 'keepcaps': case 'stdio-null': case 'netdev-move':
      return [];
  }
}

/** Encode a plan; a NUL inside any token is refused (it would shift every later token). */
export function encodePlan(plan: PlanOp[]): Buffer {
  const parts: string[] = [];
  for (const p of plan) {
    for (const t of [p.op, ...tokens(p)]) {
      if (t.includes('\0')) throw new Error(`plan ${p.op}: value contains a NUL byte`);
      parts.push(t, '\0');
    }
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/** One line of a uid/gid map (the OCI LinuxIDMapping shape). */
export interface IdMapping { containerID: number; hostID: number; size: number }

/** The text the kernel expects in /proc/<pid>/uid_map or gid_map: `containerID hostID size` lines. */
export function idMap(mappings: readonly IdMapping[]): string {
  return mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

// Mount flags (linux/mount.h) used when building plans.
export const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20,
  MANDLOCK: 0x40, DIRSYNC: 0x80, NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800,
  BIND: 0x1000, MOVE: 0x2000, REC: 0x4000, SILENT: 0x8000, UNBINDABLE: 0x20000,
  PRIVATE: 0x40000, SLAVE: 0x80000, SHARED: 0x100000, RELATIME: 0x200000,
  STRICTATIME: 0x1000000, LAZYTIME: 0x2000000,
} as const;

// Capability numbers (linux/capability.h), for capMask.
export const CAP = {
  CHOWN: 0, DAC_OVERRIDE: 1, DAC_READ_SEARCH: 2, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6,
  SETUID: 7, SETPCAP: 8, LINUX_IMMUTABLE: 9, NET_BIND_SERVICE: 10, NET_BROADCAST: 11,
  NET_ADMIN: 12, NET_RAW: 13, IPC_LOCK: 14, IPC_OWNER: 15, SYS_MODULE: 16, SYS_RAWIO: 17,
  SYS_CHROOT: 18, SYS_PTRACE: 19, SYS_PACCT: 20, SYS_ADMIN: 21, SYS_BOOT: 22, SYS_NICE: 23,
  SYS_RESOURCE: 24, SYS_TIME: 25, SYS_TTY_CONFIG: 26, MKNOD: 27, LEASE: 28, AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30, SETFCAP: 31, MAC_OVERRIDE: 32, MAC_ADMIN: 33, SYSLOG: 34, WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36, AUDIT_READ: 37, PERFMON: 38, BPF: 39, CHECKPOINT_RESTORE: 40,
} as const;

/** The mask with bit n set for each capability number n. */
export function capMask(caps: Iterable<number>): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(c);
  return m;
}

// Resource numbers (asm-generic/resource.h) for the rlimit op.
export const RLIMIT = {
  CPU: 0, FSIZE: 1, DATA: 2, STACK: 3, CORE: 4, RSS: 5, NPROC: 6, NOFILE: 7, MEMLOCK: 8, AS: 9,
  LOCKS: 10, SIGPENDING: 11, MSGQUEUE: 12, NICE: 13, RTPRIO: 14, RTTIME: 15,
} as const;

/**
 * A line nsinit writes on fd 3 (the sync channel), without its newline:
 * `hook\t<name>\t<pid>` (answer `ok\n` or `fail\t<message>\n`), then exactly one of
 * `created\t<initPid>` or `error\t<errno>\t<message>`.
 */
export type SyncLine =
  | { type: 'hook'; name: string; pid: number }
  | { type: 'created'; pid: number }
  | { type: 'error'; errno: number; message: string };

/** Parse one sync line (with or without its trailing newline); null if it is garbled. */
export function parseSyncLine(line: string): SyncLine | null {
  const l = line.endsWith('\n') ? line.slice(0, -1) : line;
  let m: RegExpExecArray | null;
  if ((m = /^hook\t([A-Za-z0-9_.-]{1,64})\t(\d+)$/.exec(l))) return { type: 'hook', name: m[1], pid: Number(m[2]) };
  if ((m = /^created\t(\d+)$/.exec(l))) return { type: 'created', pid: Number(m[1]) };
  if ((m = /^error\t(\d+)\t([^\n]*)$/.exec(l))) return { type: 'error', errno: Number(m[1]), message: m[2] };
  return null;
}

/** The answer to a `hook` line: `ok\n`, or `fail\t<message>\n` (newlines in it become spaces). */
export function hookAnswer(error?: string): string {
  return error === undefined ? 'ok\n' : `fail\t${error.replace(/[\r\n]+/g, ' ')}\n`;
}
