// Removing a cgroup's directories: rmdir retried while processes leave, and the parents runa
// made when nothing else uses them (cgroup.ts's destroy and removeIfEmpty).
import fs from 'node:fs';
import type { Hierarchy } from './hierarchy.js';

/**
 * How long destroy() waits, in all, for the cgroup to empty: the processes it killed, and a
 * monitor on its way out, leave within milliseconds on an idle host, but a loaded one (a CI
 * machine running the fuzzers) took over 2 s.
 */
export const DESTROY_WAIT_MS = 10_000;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** rmdir, retrying EBUSY (processes still leaving) until `deadline` (ms since epoch). */
export async function rmdirRetry(dir: string, deadline: number): Promise<NodeJS.ErrnoException | null> {
  for (let i = 0; ; i++) {
    try {
      fs.rmdirSync(dir);
      return null;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') return null;
      if (err.code !== 'EBUSY' || Date.now() >= deadline) return err;
      await (i < 50 ? tick() : pause(10));
    }
  }
}

/** The parents runa made (e.g. /runa): only when empty; a sibling container may live there. */
export function removeParents(created: Set<string>, hierarchies: readonly Hierarchy[]): void {
  for (const d of [...created].sort((a, b) => b.length - a.length)) {
    if (hierarchies.some((h) => h.dir === d)) continue;
    try {
      fs.rmdirSync(d);
      created.delete(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') created.delete(d);
      else if (code === 'EBUSY' || code === 'ENOTEMPTY') created.delete(d); // in use by someone else now
    }
  }
}
