// The host's cgroups as a container's create needs them: the layout runa makes its own
// cgroups in, and the hierarchies a `cgroup` mount re-creates inside the container.
import fs from 'node:fs';
import path from 'node:path';
import { detectCgroups, type CgroupLayout } from './detect.js';

/**
 * The host's cgroup layout (for runa's own cgroups) and hierarchies (for `cgroup` mounts),
 * read once per daemon: they do not change while it runs, and every create needs them.
 */
let hostCgroupsCache: { layout: CgroupLayout; mounts: HostCgroupMount[] } | null = null;
export function hostCgroups(): { layout: CgroupLayout; mounts: HostCgroupMount[] } {
  hostCgroupsCache ??= { layout: detectCgroups(), mounts: hostCgroupMounts() };
  return hostCgroupsCache;
}

/** The host's cgroup hierarchies, from mountinfo: what a `cgroup` mount re-creates inside. */
export interface HostCgroupMount { dir: string; fstype: 'cgroup' | 'cgroup2'; options: string }
export function hostCgroupMounts(): HostCgroupMount[] {
  const out: HostCgroupMount[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    if (!mountPoint?.startsWith('/sys/fs/cgroup')) continue;
    if (fstype === 'cgroup2') out.push({ dir: path.relative('/sys/fs/cgroup', mountPoint), fstype, options: '' });
    if (fstype === 'cgroup') {
      const opts = superOpts.split(',').filter((o) => o !== 'rw' && o !== 'ro' && o !== 'relatime');
      out.push({ dir: path.relative('/sys/fs/cgroup', mountPoint), fstype, options: opts.join(',') });
    }
  }
  return out;
}
