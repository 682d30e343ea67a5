// Removing a container's cgroup at delete: at once when it is empty (the usual end: the init's
// exit ended its pid namespace), else once what is left in it is killed; and if the kernel still
// refuses (EBUSY: a process slow to leave, after destroy()'s own wait), again in the background
// for a while, so that a slow exit does not leave the cgroup behind while the delete goes on.
import type { Cgroup } from './cgroup.js';

/** What a removal needs of a cgroup (Cgroup; tests give their own). */
export type Removable = Pick<Cgroup, 'path' | 'removeIfEmpty' | 'kill' | 'pids' | 'destroy'>;

export interface RemovalOptions {
  /** how long the background retries go on (a minute) */
  forMs?: number;
  /** how often (a second) */
  everyMs?: number;
  /** where warnings go (the daemon's stderr) */
  warn?(message: string): void;
}

export interface Removal {
  /** the cgroup is gone now */
  removed: boolean;
  /** whether it is gone in the end: at once, or after the background retries (false: left behind, said) */
  settled: Promise<boolean>;
}

export const RETRY_FOR_MS = 60_000;
export const RETRY_EVERY_MS = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
const stderr = (message: string) => { process.stderr.write(`${message}\n`); };
const duration = (ms: number) => (ms === 60_000 ? 'a minute' : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/**
 * Remove the cgroup: what is left in it is killed first (cgroup.kill where it can, else one by
 * one; a cgroup that existed before the container may hold others' processes: those stay). It
 * resolves once the first try is over; a cgroup still busy then is said and tried again every
 * `everyMs` for `forMs`, and said again if it is left behind.
 */
export async function removeCgroup(cg: Removable, opts: RemovalOptions = {}): Promise<Removal> {
  const forMs = opts.forMs ?? RETRY_FOR_MS;
  const everyMs = opts.everyMs ?? RETRY_EVERY_MS;
  const warn = opts.warn ?? stderr;
  if (cg.removeIfEmpty()) return { removed: true, settled: Promise.resolve(true) };
  let killed = false;
  try { killed = cg.kill(); } catch { /* one by one, then */ }
  if (!killed) for (const pid of cg.pids(true)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  try {
    await cg.destroy();
    return { removed: true, settled: Promise.resolve(true) };
  } catch (e) {
    warn(`runa: warning: removing cgroup ${cg.path}: ${(e as Error).message} (trying again for ${duration(forMs)})`);
  }
  const settled = (async () => {
    const until = Date.now() + forMs;
    for (;;) {
      await sleep(everyMs);
      try {
        await cg.destroy();
        return true;
      } catch (err) {
        if (Date.now() < until) continue;
        warn(`runa: warning: cgroup ${cg.path} left behind: ${(err as Error).message}`);
        return false;
      }
    }
  })();
  return { removed: false, settled };
}
