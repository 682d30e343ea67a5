// Starting the kernel's wait for a cgroup join early, off `run`'s and `exec`'s critical path.
//
// A write to cgroup.procs takes cgroup_threadgroup_rwsem for writing. Its first writer after a
// quiet spell waits out an RCU grace period (rcu_sync_enter); writers that come while one is in
// its grace period share its wait, and writers within one grace period after the last one left
// do not wait at all. On this project's test host that wait is 4 to 20 ms, and nsinit's join of
// the container's cgroup (its first op) paid it on every `run` and `exec`.
//
// So once a create has made its cgroups (and when an exec begins), the daemon re-writes its own
// pid into its own cgroup's cgroup.procs, in libuv's thread pool: a join that moves nothing (the
// kernel finds the same css_set and runs no controller's attach), but takes the lock, and so
// starts the wait while the daemon plans and the front end spawns nsinit. By the time nsinit
// joins, the wait is partly or wholly over. Not before the create's own cgroup writes: the
// writer holds cgroup_mutex while it waits, and would hold them up.
// On a pure v2 host nsinit writes no cgroup.procs (its processes are cloned into their cgroup),
// and there is nothing to start. Any error (rootless, a read-only cgroupfs, a cgroup gone) turns
// it off for the daemon's life: it is only ever a head start, never something a container depends on.
import fs from 'node:fs';
import path from 'node:path';
import { parseProcCgroup, type CgroupLayout } from './detect.js';
import { hostCgroups } from './host.js';

/**
 * The cgroup.procs file of this process's own cgroup in one hierarchy of `layout`, or null.
 * v1: a hierarchy whose attach has no side effect on a process already there (pids, freezer,
 * devices, the named systemd one; never cpuset); v2: the unified one.
 */
export function ownProcsFile(layout: CgroupLayout, procSelfCgroup: string): string | null {
  const own = parseProcCgroup(procSelfCgroup);
  const inMount = (mount: string, cg: string | undefined): string | null => {
    if (cg === undefined) return null;
    const root = layout.mountRoots?.[mount] ?? '/';
    if (root !== '/' && cg !== root && !cg.startsWith(root + '/')) return null; // outside what is mounted
    const rel = root === '/' ? cg : cg.slice(root.length) || '/';
    return path.join(mount, rel, 'cgroup.procs');
  };
  if (layout.mode !== 'v2') {
    for (const c of ['pids', 'freezer', 'devices', 'name=systemd']) {
      const mount = layout.v1[c];
      const file = mount === undefined ? null : inMount(mount, own[c]);
      if (file) return file;
    }
  }
  return layout.v2 === null ? null : inMount(layout.v2, own['']);
}

let inFlight = false;
let off = false;
/** How many head starts were begun, and whether one is under way (for tests). */
export let attachGraceStarts = 0;
export const attachGraceInFlight = (): boolean => inFlight;

/**
 * Begin the grace period now, unless one this call would start is already under way. Never throws.
 * Not on a pure v2 host: there nsinit creates its processes in their cgroup (clone3's
 * CLONE_INTO_CGROUP, native/child.c) and writes no cgroup.procs, so the wait would be for
 * nothing, and the writer would hold cgroup_mutex through it, holding up every cgroup change.
 */
export function startAttachGrace(layout: () => CgroupLayout = () => hostCgroups().layout): void {
  if (inFlight || off) return;
  let file: string | null;
  try {
    const l = layout();
    if (l.mode === 'v2') return;
    file = ownProcsFile(l, fs.readFileSync('/proc/self/cgroup', 'utf8'));
  } catch {
    file = null;
  }
  if (file === null) {
    off = true;
    return;
  }
  // Opened here, so that the write itself is queued to the thread pool now: a callback between
  // an asynchronous open and the write would wait for the event loop, which the create holds.
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY);
  } catch {
    off = true;
    return;
  }
  inFlight = true;
  attachGraceStarts++;
  fs.write(fd, String(process.pid), (e) => {
    fs.close(fd, () => undefined);
    inFlight = false;
    if (e) off = true;
  });
}
