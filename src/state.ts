// state.json: the OCI state plus the persisted machine snapshot, written atomically.
// Dependency-free so that `runa state` and `runa list` answer from disk without a daemon.
import fs from 'node:fs';
import path from 'node:path';
import { containerDir, exitFile, stateFile } from './paths.js';
import { isValidId, notExist } from './errors.js';

export const SCHEMA_VERSION = 1;
export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface PersistedContainer {
  schemaVersion: number;
  ociVersion: string;
  id: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  status: Status;
  monitorPid: number | null;
  /** /proc/<pid>/stat start time: tells our monitor from a process that reused its PID */
  monitorStartTime: string | null;
  initPid: number | null;
  /** the caller supervises the init (--pid-file): it is the caller's child, and its liveness is the container's */
  supervised?: boolean;
  /** the sandbox (pod) this container is a member of; absent for a sandbox's root, whose id is the sandbox's */
  sandbox?: string;
  /** created with --no-new-keyring */
  noNewKeyring?: boolean;
  /** linux.intelRdt: its class of service directory, and whether runa made it */
  rdt?: { dir: string; created: boolean };
  initStartTime?: string | null;
  /** -1: unknown, the status went to the caller that reaped the process */
  exitStatus: number | null;
  /** the container's cgroup: its path and the directories runa created (removed on delete) */
  cgroup?: { path: string; createdDirs: string[]; usedDirs?: string[] };
  snapshot: unknown;
}

export function writeState(dir: string, state: PersistedContainer): void {
  const tmp = path.join(dir, `.state.json.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  fs.renameSync(tmp, stateFile(dir));
}

export function readState(dir: string): PersistedContainer | null {
  try {
    const s = JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as PersistedContainer;
    return s.schemaVersion === SCHEMA_VERSION ? s : null;
  } catch {
    return null;
  }
}

export function readExit(dir: string): { exitStatus: number; signal: number } | null {
  try {
    const r = JSON.parse(fs.readFileSync(exitFile(dir), 'utf8'));
    return typeof r.exitStatus === 'number' ? { exitStatus: r.exitStatus, signal: Number(r.signal) || 0 } : null;
  } catch {
    return null;
  }
}

export function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Is this the very monitor we started (not a PID reused by someone else)? */
export function monitorAlive(s: PersistedContainer): boolean {
  return s.monitorPid !== null && s.monitorStartTime !== null && processStartTime(s.monitorPid) === s.monitorStartTime;
}

/** Is the process with this pid and start time still running (not gone, not a zombie)? */
export function processAlive(pid: number | null, startTime: string | null | undefined): boolean {
  if (pid === null || !startTime) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[19] === startTime && f[0] !== 'Z' && f[0] !== 'X';
  } catch {
    return false;
  }
}

/** The status as the monitor's truth has it: an exit record or a dead monitor mean stopped. */
export function liveStatus(dir: string, s: PersistedContainer): { status: Status; exitStatus: number | null } {
  if (s.status === 'stopped') return { status: 'stopped', exitStatus: s.exitStatus };
  if (s.status === 'creating') return { status: 'creating', exitStatus: null };
  const exit = readExit(dir);
  if (exit) return { status: 'stopped', exitStatus: exit.exitStatus };
  // A supervised init outlives a lost monitor: its own liveness is the container's.
  if (s.supervised ? !processAlive(s.initPid, s.initStartTime) : !monitorAlive(s)) return { status: 'stopped', exitStatus: s.exitStatus };
  return { status: s.status, exitStatus: null };
}

/** What the OCI state is made of. */
export type StateFields = Pick<PersistedContainer, 'ociVersion' | 'id' | 'bundle' | 'rootfs' | 'created' | 'owner' | 'annotations' | 'initPid' | 'sandbox'>;

/** The sandbox (pod) a container belongs to: its own id for a sandbox's root. `list` shows it. */
export const sandboxOf = (s: Pick<PersistedContainer, 'id' | 'sandbox'>): string => s.sandbox ?? s.id;

export function ociState(s: StateFields, status: Status) {
  return {
    ociVersion: s.ociVersion,
    id: s.id,
    status,
    // The container's init, in every namespace of the container (never runa's monitor).
    pid: status === 'stopped' ? 0 : s.initPid ?? 0,
    bundle: s.bundle,
    rootfs: s.rootfs,
    created: s.created,
    owner: s.owner,
    // The config's annotations and nothing else (runtime-spec; hooks read this state on stdin).
    annotations: { ...s.annotations },
  };
}
export type OciStateView = ReturnType<typeof ociState>;

/** A container as the disk and its monitor tell it (no daemon needed); `container does not exist` otherwise. */
export function loadContainer(root: string, id: string): { saved: PersistedContainer; status: Status; state: OciStateView } {
  const dir = containerDir(root, id);
  const saved = isValidId(id) ? readState(dir) : null;
  if (!saved) throw notExist();
  const { status } = liveStatus(dir, saved);
  return { saved, status, state: ociState(saved, status) };
}

/** A directory's names, none if it cannot be read. */
const namesIn = (dir: string): string[] => { try { return fs.readdirSync(dir); } catch { return []; } };

/** A root's entries, none if it cannot be read: a daemon's start lists its root once, for adoption and for `runa do`'s network records. */
export function rootEntries(root: string): fs.Dirent[] {
  try { return fs.readdirSync(root, { withFileTypes: true }); } catch { return []; }
}

/** The ids of the containers in a root; `names`: the root's, when the caller has listed it. */
export function listIds(root: string, names: string[] = namesIn(root)): string[] {
  return names.filter((n) => !isTrash(n) && fs.existsSync(stateFile(path.join(root, n)))).sort();
}

/** A state dir on its way in or out (claimStateDir, removeStateDir): `~` is in no container id, so none is taken for one. */
const TRASH = '.~';
export const isTrash = (name: string): boolean => name.startsWith(TRASH);
/** A fresh trash name beside `dir`; not made of the id, which may already be as long as a name can be. */
let trashSeq = 0;
const trashName = (dir: string, kind: string): string => path.join(path.dirname(dir), `${TRASH}${kind}~${process.pid}~${Date.now()}~${++trashSeq}`);

/** What removeStateDirs left when its daemon died: removed by the next one (at adoption, from its listing of the root: `names`). */
export function sweepTrash(dir: string, names: string[]): void {
  for (const n of names) if (isTrash(n)) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
}

/**
 * What an operation in progress is doing, recorded before its first side effect, so that a
 * daemon that dies meanwhile leaves the next one enough to finish it or undo it: a create
 * (until the container's state is first written; the cgroup directories it makes, listed
 * before it makes them) is undone; a delete is finished.
 */
export type Intent = { op: 'create'; cgroupDirs: string[] } | { op: 'delete' };
const INTENT = 'intent.json';

/**
 * Written in place, not through a rename: a process killed mid-way leaves a file that is
 * empty or cut short, which reads as no intent (readIntent), and that is right in both
 * cases. A create's cgroup list is written before any directory is made, so a torn one
 * still means "roll back, nothing in the cgroups yet"; a delete's is written before its
 * first side effect, so a torn one means nothing was deleted yet.
 */
export function writeIntent(dir: string, intent: Intent): void {
  fs.writeFileSync(path.join(dir, INTENT), JSON.stringify(intent), { mode: 0o600 });
}

export function readIntent(dir: string): Intent | null {
  try {
    const i = JSON.parse(fs.readFileSync(path.join(dir, INTENT), 'utf8')) as Intent;
    if (i.op === 'create' && Array.isArray(i.cgroupDirs)) return i;
    return i.op === 'delete' ? i : null;
  } catch {
    return null;
  }
}

/**
 * A create's claim on its id: its state dir, made under a trash name with its first intent
 * in it, then renamed into place. A daemon killed on the way leaves trash (swept by the next)
 * or a marked dir (rolled back by the next), never an empty dir that nothing would recognize.
 * rename(2) replaces an empty directory: one (made by hand, or by an older runa) is taken
 * over, a container's never (ENOTEMPTY/EEXIST: `taken`).
 */
export function claimStateDir(dir: string, taken: () => Error): void {
  const tmp = trashName(dir, 'claim');
  fs.mkdirSync(tmp, { mode: 0o711 });
  try {
    fs.writeFileSync(path.join(tmp, INTENT), JSON.stringify({ op: 'create', cgroupDirs: [] }), { mode: 0o600 });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw taken();
    throw e;
  }
}

export function isMarked(dir: string): boolean {
  return fs.existsSync(path.join(dir, INTENT));
}

export function clearIntent(dir: string): void {
  try {
    fs.unlinkSync(path.join(dir, INTENT));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Remove a container's state dir (or an exec'd process's): first renamed out of the way in
 * one step, so that a daemon killed meanwhile leaves either the whole dir (its state and its
 * delete intent: the next daemon finishes the delete) or trash that the next daemon sweeps,
 * never a dir with some files gone that nothing would recognize. Then its files by name and
 * the directory (a subdirectory, the overlay's, goes through rmSync): cheaper than rmSync's
 * walk, which stats every entry.
 */
export function removeStateDir(live: string): void {
  const dir = trashName(live, 'gone');
  try {
    fs.renameSync(live, dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    try {
      fs.unlinkSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'EPERM') fs.rmSync(p, { recursive: true, force: true });
      else if (code !== 'ENOENT') throw e;
    }
  }
  try {
    fs.rmdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY') fs.rmSync(dir, { recursive: true, force: true }); // written to meanwhile
    else if (code !== 'ENOENT') throw e;
  }
}
