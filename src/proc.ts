// Reading /proc: the processes of a container are those in its init's pid namespace.
import fs from 'node:fs';

export function containerPids(initPid: number): number[] {
  let ns: string;
  try { ns = fs.readlinkSync(`/proc/${initPid}/ns/pid`); } catch { return []; }
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try { if (fs.readlinkSync(`/proc/${name}/ns/pid`) === ns) pids.push(Number(name)); } catch { /* gone */ }
  }
  return pids.sort((a, b) => a - b);
}
