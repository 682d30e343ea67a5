// Checkpoint through CRIU, with runc's options. CRIU decides what it can do on this host: where
// it cannot work (this project's kernel: `criu check` fails on the vDSO), its own reason is the
// error, and whatever runa made for the checkpoint is removed again.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';
import { criuSharedFlags } from '../oci/criu-flags.js';
import type { CheckpointOptions } from '../bus/messages.js';

const LOG = 'dump.log';
/** The checkpointed init's fds 0-2 as /proc showed them (runc's file and form). */
export const DESCRIPTORS = 'descriptors.json';

function stdioOf(pid: number): string[] {
  return [0, 1, 2].map((fd) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } });
}

/** The first error lines CRIU wrote, as one line. */
function criuReason(log: string, output: string): string {
  // A restored task's lines carry its pid: `(00.123456)      1: Error (…)`.
  const errors = (log + '\n' + output).split('\n').map((l) => l.trim().replace(/^\(\d+\.\d+\)\s*(\d+:\s*)?/, '')).filter((l) => /^Error \(/.test(l));
  const lines = errors.length ? errors : output.split('\n').map((l) => l.trim()).filter(Boolean);
  return [...new Set(lines)].slice(0, 3).join('; ') || 'no reason given';
}

/** Run `criu ARGS`; resolves with its exit code and combined output. */
function criu(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn('criu', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      reject(e);
      return;
    }
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** --empty-ns of checkpoint and restore: runc takes `network` alone (always made empty anyway). */
export function checkEmptyNs(names: string[] | undefined): void {
  for (const ns of names ?? []) if (ns !== 'network') throw new RunaError('invalid_argument', `namespace ${JSON.stringify(ns)} is not supported`);
}

/** `criu dump` (or pre-dump) of the process tree at `pid`; throws with CRIU's reason. */
export async function criuDump(pid: number, rootfs: string, bindMounts: string[], o: CheckpointOptions): Promise<void> {
  // runc doesn't manage network devices and their configuration: the network namespace is
  // never dumped (nor restored), and `network` is the one namespace --empty-ns names.
  checkEmptyNs(o.emptyNs);
  const images = path.resolve(o.imagePath);
  const work = path.resolve(o.workPath ?? o.imagePath);
  const made: string[] = [];
  for (const dir of [images, work]) {
    if (fs.existsSync(dir)) continue;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    made.push(dir);
  }
  const args = [o.preDump ? 'pre-dump' : 'dump', '--tree', String(pid), '--images-dir', images, '--work-dir', work,
    '--log-file', LOG, '-v4', '--root', rootfs, `--manage-cgroups=${o.manageCgroupsMode ?? 'soft'}`];
  if (o.leaveRunning || o.preDump) args.push('--leave-running');
  if (o.preDump) args.push('--track-mem');
  if (o.parentPath) args.push('--prev-images-dir', o.parentPath, '--track-mem');
  args.push(...criuSharedFlags(o));
  args.push('--empty-ns', 'net');
  // Bind mounts are external to the container's mount tree: CRIU needs to be told so (runc does the same).
  for (const dest of bindMounts) args.push('--external', `mnt[${dest}]:${dest}`);
  // Read before the dump, which ends the process unless it is left running.
  const stdio = stdioOf(pid);
  let r: { code: number | null; output: string };
  try {
    r = await criu(args);
  } catch (e) {
    for (const dir of made.reverse()) fs.rmSync(dir, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new RunaError('criu_missing', 'checkpoint: criu is not installed (Debian: apt-get install criu)');
    throw e;
  }
  if (r.code === 0) {
    // runc's descriptors.json: what the init's stdio were, so restore can give it the caller's pipes.
    if (!o.preDump) fs.writeFileSync(path.join(images, DESCRIPTORS), JSON.stringify(stdio), { mode: 0o600 });
    return;
  }
  let log = '';
  try { log = fs.readFileSync(path.join(work, LOG), 'utf8'); } catch { /* CRIU may fail before it logs */ }
  for (const dir of made.reverse()) fs.rmSync(dir, { recursive: true, force: true });
  if (!made.includes(work)) fs.rmSync(path.join(work, LOG), { force: true });
  throw new RunaError('criu_failed', `checkpoint: criu ${args[0]} failed: ${criuReason(log, r.output)}`);
}

/** Whether CRIU can work here at all (`criu check`); throws with its reason if not. */
export async function criuCheck(what: string): Promise<void> {
  let r: { code: number | null; output: string };
  try {
    r = await criu(['check']);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new RunaError('criu_missing', `${what}: criu is not installed (Debian: apt-get install criu)`);
    throw e;
  }
  if (r.code !== 0 || /Error \(/.test(r.output)) throw new RunaError('criu_failed', `${what}: criu cannot work on this host: ${criuReason('', r.output)}`);
}

/** Where `criu` is on PATH (what `criu check` ran), absolute: nsinit execs it with no PATH of its own. */
export function criuPath(what: string): string {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.resolve(dir || '.', 'criu');
    try { fs.accessSync(p, fs.constants.X_OK); if (fs.statSync(p).isFile()) return p; } catch { /* next */ }
  }
  throw new RunaError('criu_missing', `${what}: criu is not installed (Debian: apt-get install criu)`);
}

/** Why `criu restore` failed, from its log in the work dir (which then goes, as checkpoint's does). */
export function criuRestoreFailure(workPath: string, log: string, status: string): RunaError {
  let text = '';
  try { text = fs.readFileSync(path.join(workPath, log), 'utf8'); } catch { /* CRIU may fail before it logs */ }
  fs.rmSync(path.join(workPath, log), { force: true });
  return new RunaError('criu_failed', `restore: criu restore failed: ${text ? criuReason(text, '') : status}`);
}
