// Kill points, for the crash-consistency tests: with RUNA_KILL_POINT=<name> in its
// environment, the daemon kills itself with SIGKILL when it reaches that point, as a crash
// would. Nothing happens without the variable.
const point = process.env.RUNA_KILL_POINT;

/** The points there are (the tests kill each in turn). */
export const KILL_POINTS = ['create:claimed', 'create:cgroups', 'create:prepared', 'create:spawned', 'start:requested', 'start:gated', 'exec:prepared', 'exec:spawned', 'delete:intent', 'delete:killed', 'delete:cgroups'] as const;
export type KillPoint = (typeof KILL_POINTS)[number];

export function killPoint(name: KillPoint): void {
  if (point === name) process.kill(process.pid, 'SIGKILL');
}
