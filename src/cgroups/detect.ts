// Where the cgroup hierarchies are (/proc/self/mountinfo) and which directory a container's
// cgroupsPath names in each of them (OCI rules, runc's cgroupfs driver).
import fs from 'node:fs';
import path from 'node:path';
import { CgroupError } from './common.js';

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export interface CgroupLayout {
  /** v2: only a cgroup2 mount; v1: only v1 hierarchies; hybrid: v1 hierarchies plus a cgroup2 mount (systemd's "unified"). */
  mode: CgroupMode;
  /** controller (or "name=systemd" for named hierarchies) → mount point; co-mounted controllers share one. */
  v1: Record<string, string>;
  /** the cgroup2 mount point, if any */
  v2: string | null;
  /** mount point → the cgroup that is mounted there (mountinfo's root field), "/" normally */
  mountRoots?: Record<string, string>;
}

/** cgroup v1 super options that are not controller names (kernel/cgroup/cgroup-v1.c). */
const V1_MOUNT_OPTIONS = new Set(['rw', 'ro', 'all', 'none', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'xattr', 'favordynmods', 'nofavordynmods']);

/** Parse mountinfo (default: this process's) for cgroup and cgroup2 mounts; the first mount of a hierarchy wins. */
export function detectCgroups(opts: { mountinfo?: string } = {}): CgroupLayout {
  const text = opts.mountinfo ?? fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const v1: Record<string, string> = {};
  const mountRoots: Record<string, string> = {};
  let v2: string | null = null;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const [fstype, , superOpts = ''] = post;
    const root = unescapeMount(pre[3] ?? '/');
    const mountpoint = unescapeMount(pre[4] ?? '');
    if (fstype === 'cgroup2') {
      if (v2 === null) {
        v2 = mountpoint;
        mountRoots[mountpoint] = root;
      }
    } else if (fstype === 'cgroup') {
      const names = superOpts.split(',').filter((o) => o && !V1_MOUNT_OPTIONS.has(o) && !o.startsWith('release_agent='));
      let took = false;
      for (const n of names) {
        if (v1[n] === undefined) {
          v1[n] = mountpoint;
          took = true;
        }
      }
      if (took && mountRoots[mountpoint] === undefined) mountRoots[mountpoint] = root;
    }
  }
  const hasV1 = Object.keys(v1).some((c) => !c.startsWith('name='));
  const mode: CgroupMode = hasV1 ? (v2 !== null ? 'hybrid' : 'v1') : v2 !== null ? 'v2' : 'v1';
  if (!hasV1 && v2 === null) throw new CgroupError('cgroups: no cgroup or cgroup2 filesystem is mounted (see /proc/self/mountinfo)');
  return { mode, v1, v2, mountRoots };
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * A container's cgroup path by the OCI rules: absolute → as is (relative to each hierarchy's
 * root); relative → kept relative (Cgroup.open anchors it at the runtime's own cgroup in each
 * hierarchy, like runc's cgroupfs driver); absent → "/runa/<id>". Normalized; a path whose ".."
 * climbs above its anchor is refused, as are NUL bytes and empty paths.
 */
export function resolvePath(cgroupsPath: string | undefined, id: string): string {
  if (cgroupsPath === undefined || cgroupsPath === '') return `/runa/${id}`;
  if (cgroupsPath.includes('\0')) throw new CgroupError(`linux.cgroupsPath: invalid cgroup path ${JSON.stringify(cgroupsPath)}`);
  const absolute = cgroupsPath.startsWith('/');
  const parts: string[] = [];
  for (const seg of cgroupsPath.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) throw new CgroupError(`linux.cgroupsPath: ${JSON.stringify(cgroupsPath)} escapes the cgroup ${absolute ? 'root' : 'of the runtime'} with ".."`);
      parts.pop();
      continue;
    }
    parts.push(seg);
  }
  if (!absolute && parts.length === 0) throw new CgroupError(`linux.cgroupsPath: ${JSON.stringify(cgroupsPath)} names the runtime's own cgroup`);
  return absolute ? '/' + parts.join('/') : parts.join('/');
}

/** /proc/<pid>/cgroup → controller (or "name=x", or "" for the v2 unified hierarchy) → cgroup path. */
export function parseProcCgroup(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '') out[''] = m[2];
    else for (const c of m[1].split(',')) out[c] = m[2];
  }
  return out;
}

/**
 * The directory of `cgPath` (from resolvePath) in the hierarchy mounted at `mountpoint`.
 * Absolute: mountpoint + path (runc ignores the mount's root for absolute paths).
 * Relative: mountpoint + (own cgroup minus the mount's root) + path.
 */
export function hierarchyDir(mountpoint: string, mountRoot: string, cgPath: string, own: string | undefined, root = ''): string {
  const base = root ? path.join(root, mountpoint) : mountpoint;
  if (cgPath.startsWith('/')) return path.join(base, cgPath);
  let ownRel = own ?? '/';
  if (mountRoot !== '/' && (ownRel === mountRoot || ownRel.startsWith(mountRoot + '/'))) ownRel = ownRel.slice(mountRoot.length) || '/';
  if (ownRel.split('/').includes('..')) throw new CgroupError(`cgroups: cannot anchor relative cgroup path ${JSON.stringify(cgPath)}: the runtime's own cgroup ${JSON.stringify(own)} is outside the mounted hierarchy ${mountpoint}`);
  return path.join(base, ownRel, cgPath);
}
