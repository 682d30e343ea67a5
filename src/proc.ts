// Reading /proc: which processes belong to a container.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Host PIDs of every process of a container. With its own pid namespace, that namespace is
 * the container. Sharing a pid namespace (the runtime's, or a pod's), it is the container's freezer (or
 * unified) cgroup, which only the container's processes join (never the monitor) — and
 * without one, just the init: never "every process in the host's pid namespace".
 */
export function containerPids(initPid: number): number[] {
  let ns: string;
  try { ns = fs.readlinkSync(`/proc/${initPid}/ns/pid`); } catch { return []; }
  // A pid namespace is the container's own only if its init is PID 1 there: a pod member
  // that joined its sandbox's shares it with the other members (found by cgroup then).
  if (ns !== fs.readlinkSync('/proc/self/ns/pid') && isPidOne(initPid)) {
    const pids: number[] = [];
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try { if (fs.readlinkSync(`/proc/${name}/ns/pid`) === ns) pids.push(Number(name)); } catch { /* gone */ }
    }
    return pids.sort((a, b) => a - b);
  }
  const procs = cgroupProcsFile(initPid);
  if (!procs) return [initPid];
  try {
    return fs.readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
  } catch {
    return [initPid];
  }
}

/** Whether the process is PID 1 of its innermost pid namespace (NSpid's last field). */
function isPidOne(pid: number): boolean {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
    return line?.trim().split(/\s+/).at(-1) === '1';
  } catch {
    return false;
  }
}

/** cgroup.procs of the process's freezer (v1) or unified (v2) cgroup, as mounted here. */
function cgroupProcsFile(pid: number): string | null {
  let lines: string[];
  try { lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n'); } catch { return null; }
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const mountOf = (match: (fstype: string, opts: string) => boolean) => {
    for (const m of mounts) {
      const sep = m.indexOf(' - ');
      if (sep < 0) continue;
      const [fstype, , opts] = m.slice(sep + 3).split(' ');
      if (match(fstype, opts ?? '')) return m.slice(0, sep).split(' ')[4];
    }
    return null;
  };
  for (const l of lines) {
    const [, controllers, cgPath] = l.split(':');
    if (cgPath === undefined) continue;
    const dir = controllers.split(',').includes('freezer')
      ? mountOf((t, o) => t === 'cgroup' && o.split(',').includes('freezer'))
      : null;
    if (dir) return path.join(dir, cgPath, 'cgroup.procs');
  }
  const unified = lines.find((l) => l.startsWith('0::'));
  const dir2 = unified ? mountOf((t) => t === 'cgroup2') : null;
  return unified && dir2 && unified.slice(3) !== '/' ? path.join(dir2, unified.slice(3), 'cgroup.procs') : null;
}

/** A process's NSpid: its pid in each pid namespace from the host's down to its own. */
export function nsPids(pid: number): number[] | null {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
    return line ? line.trim().split(/\s+/).slice(1).map(Number) : null;
  } catch {
    return null;
  }
}

/**
 * The host pid of the live process that is `nsPid` in the pid namespace `refPid` is in (runsc's
 * "PID in the sandbox's root PID namespace"), or null: found among the processes of that very
 * namespace.
 */
export function hostPidIn(refPid: number, nsPid: number): number | null {
  let ns: string;
  try { ns = fs.readlinkSync(`/proc/${refPid}/ns/pid`); } catch { return null; }
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/ns/pid`) === ns && nsPids(Number(name))?.at(-1) === nsPid) return Number(name);
    } catch { /* gone */ }
  }
  return null;
}
