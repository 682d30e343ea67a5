// Adoption: a restarted daemon re-adopts every container from its state on disk and from its
// monitor, finishes the deletes and undoes the creates a dead daemon left half done, and
// rebuilds the sandboxes from their containers' records. Nothing is lost.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerRecord } from './container-record.js';
import { containerDir, monitorSocket, stateFile } from '../paths.js';
import { isMarked, listIds, readExit, readIntent, readState, removeStateDir, sweepTrash, isTrash } from '../state.js';
import { containerAddress, sandboxAddress } from './sandbox-actor.js';
import type { ContainerActor } from './container-actor.js';
import { killPoint } from '../faults.js';
import type { RegistryHost } from './registry-host.js';

/**
 * Re-adopt every container from disk and from its monitor (a restarted daemon loses nothing).
 * `entries`: the root's, listed once by the daemon's start (src/state.ts rootEntries).
 */
export async function adopt(r: RegistryHost, entries: fs.Dirent[]): Promise<void> {
  const names = entries.map((e) => e.name);
  rollBackOrphans(r.root, entries);
  const live = listeningSockets();
  // The ids listed before the roll-back: those it removed had no state, and are not among them.
  for (const id of listIds(r.root, names)) {
    const dir = containerDir(r.root, id);
    const saved = readState(dir);
    if (!saved || r.containers.has(id)) continue;
    killPoint('daemon:adopting'); // with a container read and not yet adopted
    const record: ContainerRecord = {
      id, stateDir: dir, ociVersion: saved.ociVersion, bundle: saved.bundle, rootfs: saved.rootfs,
      created: saved.created, owner: saved.owner, annotations: saved.annotations, cgroup: saved.cgroup,
      supervised: saved.supervised, ...(saved.sandbox !== undefined ? { sandbox: saved.sandbox } : {}),
      ...(saved.noNewKeyring ? { noNewKeyring: true } : {}),
      ...(saved.rdt ? { rdt: saved.rdt } : {}),
    };
    removeStaleExecs(dir, live);
    const actor = r.add(record, {
      snapshot: saved.snapshot,
      monitor: { pid: saved.monitorPid, startTime: saved.monitorStartTime, initPid: saved.initPid, initStartTime: saved.initStartTime ?? null },
    });
    // A delete a daemon died in the middle of: finished now.
    if (readIntent(dir)?.op === 'delete') {
      await actor.delete(true).catch((e: Error) => process.stderr.write(`runa: finishing the delete of ${JSON.stringify(id)}: ${e.message}\n`));
      process.stderr.write(`runa: finished the delete of ${JSON.stringify(id)} that a daemon left unfinished\n`);
      continue;
    }
    if (saved.status === 'creating') { await actor.settleCreating(); continue; }
    if (saved.status === 'stopped') continue;
    const exit = readExit(dir);
    if (exit) { actor.exited(exit.exitStatus); continue; }
    try {
      const state = await actor.adoptMonitor(saved.monitorPid);
      // The monitor is the truth: a start that happened just before the daemon died.
      if (state === 'running') actor.startedMeanwhile();
    } catch {
      const late = readExit(dir);
      if (late) actor.exited(late.exitStatus);
      else actor.monitorLost();
    }
  }
  adoptSandboxes(r);
}

/**
 * Creates a daemon died in the middle of, before the container's state was first written
 * (marked by an intent, never a directory of someone else's under a shared --root):
 * what their intent records is undone (the cgroup directories they made, which hold no
 * process yet: the CLI spawns nsinit only once the create has answered), then their state
 * dir, so that the id can be used again.
 */
function rollBackOrphans(root: string, entries: fs.Dirent[]): void {
  sweepTrash(root, entries.map((e) => e.name));
  for (const name of entries.filter((e) => e.isDirectory() && !isTrash(e.name)).map((e) => e.name)) {
    const dir = path.join(root, name);
    if (fs.existsSync(stateFile(dir)) || !isMarked(dir)) continue;
    const intent = readIntent(dir);
    for (const d of intent?.op === 'create' ? [...intent.cgroupDirs].reverse() : []) {
      try { fs.rmdirSync(d); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') process.stderr.write(`runa: rolling back ${name}: rmdir ${d}: ${(e as Error).message}\n`); }
    }
    removeStateDir(dir);
    process.stderr.write(`runa: rolled back the create of ${JSON.stringify(name)} that a daemon left unfinished\n`);
  }
}

/**
 * Rebuild every sandbox from its containers' records: its members, and its state replayed
 * from its root's. A sandbox whose root is gone is stopped: its members are stopped too.
 */
function adoptSandboxes(r: RegistryHost): void {
  const pods = new Map<string, string[]>();
  for (const c of r.containers.values()) {
    if (!pods.has(c.sandboxId)) pods.set(c.sandboxId, []);
    if (!c.isSandboxRoot) pods.get(c.sandboxId)!.push(c.id);
  }
  for (const [sid, members] of pods) {
    if (r.sandboxes.has(sid)) continue;
    const root = r.containers.get(sid);
    const sandbox = r.newSandbox(sid, { members, rootPresent: root !== undefined });
    const replay: Array<ContainerActor['status']> = !root ? ['deleted'] : root.status === 'paused' ? ['running', 'paused'] : [root.status];
    for (const status of replay) {
      r.actors.tell({ type: 'member.status', from: containerAddress(sid), to: sandboxAddress(sandbox.id), id: sid, status, exitStatus: root?.exitStatus ?? null });
    }
  }
}

/** The unix socket paths something listens on (/proc/net/unix): a live monitor's is there. */
function listeningSockets(): Set<string> {
const out = new Set<string>();
let text = '';
try { text = fs.readFileSync('/proc/net/unix', 'latin1'); } catch { return out; }
for (const line of text.split('\n').slice(1)) {
  const f = line.trim().split(/\s+/);
  if (f.length >= 8 && f[7].startsWith('/')) out.add(f[7]);
}
return out;
}

/**
 * The dirs of exec'd processes whose monitor is gone (ended while no daemon ran, or an exec a
 * daemon died in the middle of, whose nsinit the caller killed): nothing will use them again.
 * A live exec'd process keeps its own: its caller waits for it.
 */
function removeStaleExecs(dir: string, live: Set<string>): void {
const execs = path.join(dir, 'exec');
let names: string[];
try { names = fs.readdirSync(execs); } catch { return; }
for (const n of names) {
  const p = path.join(execs, n);
  if (isTrash(n)) fs.rmSync(p, { recursive: true, force: true });
  else if (!live.has(monitorSocket(p))) removeStateDir(p);
}
}

