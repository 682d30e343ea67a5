// runsc's `create --user-log FILE`: a log for the container's user, in Kubernetes' JSON log
// format (runsc's K8sJSONEmitter: {"log":"…\n","stream":"stderr","time":"…"}), appended to
// FILE. runsc writes there what the sandbox's kernel cannot do for the application; runa has
// no kernel of its own, so it writes what the user sees of the container: its state changes
// and its processes' (init and exec'd: started, exited with their status).
import fs from 'node:fs';
import { RunaError } from '../errors.js';
import type { HistoryEntry } from './history.js';

/** Open (create, 0644, append) the file now, so a path that cannot be written fails create before anything is made. */
export function userLog(file: string): (e: HistoryEntry) => void {
  try {
    fs.closeSync(fs.openSync(file, 'a', 0o644));
  } catch (e) {
    throw new RunaError('invalid_argument', `--user-log ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
  return (e) => {
    const line = describe(e);
    if (line === null) return;
    try {
      fs.appendFileSync(file, JSON.stringify({ log: `${line}\n`, stream: 'stderr', time: new Date(e.at).toISOString() }) + '\n');
    } catch { /* the user's log is best effort: the container goes on */ }
  };
}

/** The entry as the user would say it, or null for the daemon's inner traffic (messages, the gofer). */
function describe(e: HistoryEntry): string | null {
  if (e.kind !== 'transition') return null;
  const [kind, rest] = [e.actor.slice(0, e.actor.indexOf(':')), e.actor.slice(e.actor.indexOf(':') + 1)];
  if (kind === 'container') return `container ${rest}: ${e.from} -> ${e.to}`;
  if (kind !== 'process') return null;
  const name = rest.split('/')[1] ?? rest;
  const ctx = (e.context ?? {}) as { pid?: number | null; exitStatus?: number | null };
  const who = `${name === 'init' ? 'init' : `exec ${name}`}${ctx.pid ? ` (pid ${ctx.pid})` : ''}`;
  if (e.to === 'stopped') return `${who}: exited${ctx.exitStatus !== null && ctx.exitStatus !== undefined && ctx.exitStatus >= 0 ? ` with status ${ctx.exitStatus}` : ''}`;
  return `${who}: ${e.from} -> ${e.to}`;
}
