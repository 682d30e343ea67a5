// The plan nsinit executes (native/PROTOCOL.md): ops with fixed arity, NUL-terminated tokens.
export type PlanOp =
  | { op: 'statedir'; path: string }
  | { op: 'unshare'; namespaces: string[] }
  | { op: 'sethostname'; name: string }
  | { op: 'loopback' }
  | { op: 'pdeathsig'; signal: number }
  | { op: 'fork' }
  | { op: 'mount'; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'mknod'; path: string; mode: number; major: number; minor: number }
  | { op: 'symlink'; target: string; linkpath: string }
  | { op: 'pivot_root'; newRoot: string }
  | { op: 'chdir'; path: string }
  | { op: 'umask'; mode: number }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'setgid'; gid: number }
  | { op: 'setuid'; uid: number }
  | { op: 'env'; entry: string }
  | { op: 'arg'; value: string }
  | { op: 'gate' }
  | { op: 'exec' };

function tokens(p: PlanOp): string[] {
  switch (p.op) {
    case 'statedir': return [p.path];
    case 'unshare': return [p.namespaces.join(',')];
    case 'sethostname': return [p.name];
    case 'pdeathsig': return [String(p.signal)];
    case 'mount': return [p.source, p.target, p.fstype, String(p.flags), p.data];
    case 'mkdir': return [p.path, '0' + p.mode.toString(8)];
    case 'mknod': return [p.path, '0' + p.mode.toString(8), String(p.major), String(p.minor)];
    case 'symlink': return [p.target, p.linkpath];
    case 'pivot_root': return [p.newRoot];
    case 'chdir': return [p.path];
    case 'umask': return ['0' + p.mode.toString(8)];
    case 'setgroups': return [p.gids.join(',')];
    case 'setgid': return [String(p.gid)];
    case 'setuid': return [String(p.uid)];
    case 'env': return [p.entry];
    case 'arg': return [p.value];
    case 'loopback': case 'fork': case 'gate': case 'exec': return [];
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

// Mount flags (linux/mount.h) used when building plans.
export const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20,
  MANDLOCK: 0x40, DIRSYNC: 0x80, NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800,
  BIND: 0x1000, MOVE: 0x2000, REC: 0x4000, SILENT: 0x8000, UNBINDABLE: 0x20000,
  PRIVATE: 0x40000, SLAVE: 0x80000, SHARED: 0x100000, RELATIME: 0x200000,
  STRICTATIME: 0x1000000, LAZYTIME: 0x2000000,
} as const;
