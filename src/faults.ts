// Kill points, for the crash-consistency tests: with RUNA_KILL_POINT=<name> in its
// environment, the daemon kills itself with SIGKILL when it reaches that point, as a crash
// would. Nothing happens without the variable.
// With RUNA_KILL_ONCE=<file> as well, only the first daemon to reach the point dies (it makes
// the file), so that the daemons started after it can recover.
import fs from 'node:fs';

const point = process.env.RUNA_KILL_POINT;
const once = process.env.RUNA_KILL_ONCE;

/** The points there are (the tests kill each in turn). */
export const KILL_POINTS = ['daemon:locked', 'daemon:adopting', 'daemon:listening', 'create:claimed', 'create:cgroups', 'create:prepared', 'create:spawned', 'start:requested', 'start:gated', 'exec:prepared', 'exec:spawned', 'delete:intent', 'delete:killed', 'delete:cgroups'] as const;
export type KillPoint = (typeof KILL_POINTS)[number];

export function killPoint(name: KillPoint): void {
  if (point !== name) return;
  if (once) {
    try { fs.writeFileSync(once, String(process.pid), { flag: 'wx' }); } catch { return; }
  }
  process.kill(process.pid, 'SIGKILL');
}
