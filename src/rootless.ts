// Rootless: who runs runa, and what follows from it (runc's rules, rootless_linux.go). Kept
// dependency-free: every CLI command reads the state root from here. native/runa.c's root_of
// makes the same choice of root (test/rootless.test.ts holds them together).
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from './errors.js';

/** The whole id range, as the initial user namespace maps it. */
const FULL_MAP = /^\s*0\s+0\s+4294967295\s*$/;

let inUserNsCache: boolean | undefined;
/**
 * Inside a user namespace that does not map the whole id range (moby/sys userns.RunningInUserNS):
 * rootless podman runs its runtime in one, as uid 0 there.
 */
export function runningInUserNs(): boolean {
  if (inUserNsCache !== undefined) return inUserNsCache;
  let text = '';
  try { text = fs.readFileSync('/proc/self/uid_map', 'utf8'); } catch { /* no /proc: as the initial namespace */ }
  inUserNsCache = text !== '' && !FULL_MAP.test(text);
  return inUserNsCache;
}

/** The effective uid is not 0 (runc's RootlessEUID): a user namespace is required, nothing privileged is tried. */
export const rootlessEuid = (): boolean => process.geteuid?.() !== 0;

/**
 * `--rootless auto|true|false` (runc's meaning: ignore cgroup permission errors). auto: when the
 * euid is not 0, or when running as uid 0 of a user namespace that does not map everything.
 */
export function rootlessCgroups(flag: string | undefined): boolean {
  if (flag === 'true') return true;
  if (flag === 'false') return false;
  return rootlessEuid() || runningInUserNs();
}

/** Why a default state root could not be chosen (the command fails with it when it needs the root). */
export class NoStateRoot extends RunaError {
  constructor(message: string) { super('no_state_root', message); }
}

/**
 * The default state root: /run/runa for root, else `$XDG_RUNTIME_DIR/runa` (runc's
 * shouldHonorXDGRuntimeDir: a non-root user always; uid 0 of a user namespace when
 * XDG_RUNTIME_DIR is set and USER is not `root`). A non-root user without XDG_RUNTIME_DIR gets
 * a NoStateRoot error rather than a root it cannot write.
 */
export function defaultStateRoot(env: NodeJS.ProcessEnv = process.env): string | NoStateRoot {
  const xdg = env.XDG_RUNTIME_DIR;
  if (!rootlessEuid() && (!runningInUserNs() || !xdg || env.USER === 'root')) return '/run/runa';
  if (!xdg) {
    return new NoStateRoot(`rootless: XDG_RUNTIME_DIR is not set: runa keeps a non-root user's containers in $XDG_RUNTIME_DIR/runa (set it, e.g. XDG_RUNTIME_DIR=/run/user/${process.geteuid?.()}, or pass --root)`);
  }
  if (!path.isAbsolute(xdg)) return new NoStateRoot(`rootless: XDG_RUNTIME_DIR=${xdg} is not an absolute path`);
  return path.join(xdg, 'runa');
}

/**
 * A state root this user cannot make or write, with runc's hint when it came from
 * XDG_RUNTIME_DIR. Called where a command first needs its root.
 */
export function explainRootError(root: string, e: NodeJS.ErrnoException, env: NodeJS.ProcessEnv = process.env): Error {
  const why = e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.code === 'ENOENT' ? 'no such file or directory' : e.code === 'ENOTDIR' ? 'not a directory' : e.message;
  const xdg = env.XDG_RUNTIME_DIR;
  const fromXdg = xdg && rootlessEuid() && path.dirname(root) === path.resolve(xdg);
  return new RunaError('state_root', `mkdir ${e.path ?? root}: ${why}${fromXdg ? '\nthe path in $XDG_RUNTIME_DIR must be writable by the user' : ''}`);
}

/** What a plan needs to know of an unprivileged monitor (rootless euid): its ids and the mapping helpers. */
export interface Unprivileged {
  uid: number;
  gid: number;
  /** newuidmap/newgidmap (Debian's uidmap), for mappings beyond the user's own id; null when not on PATH */
  newuidmap: string | null;
  newgidmap: string | null;
}

/** newuidmap and newgidmap as found on PATH (see unprivileged). */
const helpers: { newuidmap: string | null; newgidmap: string | null } = { newuidmap: null, newgidmap: null };

/** This process's ids and helpers, as runc finds them (exec.LookPath on PATH). */
export function unprivileged(): Unprivileged {
  // Every rootless create asks: the helpers once found are kept; a missing one is looked for again (installed since).
  helpers.newuidmap ??= onPath('newuidmap');
  helpers.newgidmap ??= onPath('newgidmap');
  return { uid: process.geteuid!(), gid: process.getegid!(), newuidmap: helpers.newuidmap, newgidmap: helpers.newgidmap };
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH || '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!dir.startsWith('/')) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return null;
}
