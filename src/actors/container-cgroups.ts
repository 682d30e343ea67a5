// Which of a container's cgroup directories each process joins (create, exec --cgroup).
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';
import type { Cgroup } from '../cgroups/index.js';
import type { CgroupDirs } from '../oci/plan.js';

/** Every hierarchy's directory of a cgroup, split by who joins it (see CgroupDirs). */
export function cgroupDirs(cg: Cgroup, d: { v1: Record<string, string>; v2: string | null } = cg.dirs): CgroupDirs {
  const dirs: CgroupDirs = { monitor: [], child: [] };
  // The freezer would freeze the monitor with the container; pids would count it, and with
  // pids.limit 0 (a real limit) refuse the monitor's fork of the container's process.
  for (const [controller, dir] of Object.entries(d.v1)) (controller === 'freezer' || controller === 'pids' ? dirs.child : dirs.monitor).push(dir);
  if (d.v2) dirs.child.push(d.v2);
  const out: CgroupDirs = { monitor: [...new Set(dirs.monitor)], child: [...new Set(dirs.child)] };
  // The process may be created in it (clone3 CLONE_INTO_CGROUP) rather than written into it: the planner decides.
  if (d.v2) out.cgroup2 = d.v2;
  return out;
}

/**
 * `exec --cgroup [controller[,controller…]:]path` (runc): the exec'd process goes to an existing
 * sub-cgroup of the container's, in the controllers named (v1 only) or in all of them.
 */
export function execCgroupDirs(cg: Cgroup, specs: string[]): CgroupDirs {
  const v1 = { ...cg.dirs.v1 };
  let v2 = cg.dirs.v2;
  for (const spec of specs) {
    const colon = spec.indexOf(':');
    const controllers = colon >= 0 ? spec.slice(0, colon).split(',') : null;
    const sub = colon >= 0 ? spec.slice(colon + 1) : spec;
    if (!sub || sub.split('/').includes('..')) throw new RunaError('invalid_argument', `exec --cgroup: ${JSON.stringify(sub)} is not a sub cgroup path`);
    if (controllers && !Object.keys(cg.dirs.v1).length) throw new RunaError('invalid_argument', `exec --cgroup ${JSON.stringify(spec)}: controllers can only be named on cgroup v1`);
    for (const c of controllers ?? Object.keys(cg.dirs.v1)) {
      if (!(c in cg.dirs.v1)) throw new RunaError('invalid_argument', `exec --cgroup ${JSON.stringify(spec)}: no ${c} controller in the container's cgroup`);
      v1[c] = path.join(cg.dirs.v1[c], sub);
    }
    if (!controllers && v2) v2 = path.join(v2, sub);
  }
  for (const dir of [...Object.values(v1), ...(v2 ? [v2] : [])]) {
    if (!fs.existsSync(dir)) throw new RunaError('invalid_argument', `exec --cgroup: cgroup ${dir} does not exist`);
  }
  return cgroupDirs(cg, { v1, v2 });
}
