// The rootfs and the mounts of a new mount namespace: its propagation, the rootfs (or an
// overlay over it) bound, config.json's mounts, cgroup file systems, and /dev (devices.ts).
// Pure: the mount table and stats come from HostFacts.
import path from 'node:path';
import { MS, type PlanOp } from '../../nsinit/plan.js';
import type { HostCgroupMount } from '../../cgroups/host.js';
import type { HostFacts } from '../host-facts.js';
import { withMountLabel } from '../security.js';
import type { Mount } from '../spec.js';
import { inRoot, known, mkdirs, type OverlayLayout, type PlanInput } from './common.js';
import { deviceOps } from './devices.js';
import { isBindMount, parseMountOptions } from './mount-options.js';
import { usernsMount, type UserNs } from './userns.js';

export interface RootfsContext {
  host: HostFacts;
  joined: Map<string, string>;
  /** where mounts are made under a user namespace's limits: the container's own, or the runtime's (inUserNs) */
  userns: UserNs | null;
  fresh: (t: string) => boolean;
  owned: (t: string) => boolean;
  types: Set<string>;
  /** linux.rootfsPropagation's flags */
  requested?: number;
  /** mount index → index of its `hold` */
  held: Map<number, number>;
  /** --overlay2: the rootfs's and the binds' in-memory layers (overlay.ts) */
  overlay: OverlayLayout;
}

/** What a new mount namespace gets before the create-time hooks: its propagation, the rootfs (or the overlay) bound, the mounts and devices. */
export function rootfsOps(input: PlanInput, c: RootfsContext): PlanOp[] {
  const { spec } = input;
  const { host, joined, userns, fresh, owned, types, requested, held, overlay } = c;
  const plan: PlanOp[] = [];
  if (joined.has('mount')) plan.push({ op: 'setns', path: joined.get('mount')!, nstype: 'mnt' });
  else plan.push({ op: 'unshare', namespaces: ['mnt'] });

  // An unbindable rootfs could not be bound below: private until after pivot_root.
  const propagation = requested === undefined ? MS.SLAVE | MS.REC : requested & MS.UNBINDABLE ? (requested & MS.REC) | MS.PRIVATE : requested;
  plan.push({ op: 'mount', source: '', target: '/', fstype: '', flags: propagation, data: '' });
  // pivot_root refuses a new root that is shared or sits on a shared mount. Like runc, the
  // rootfs's parent mount stops being shared (private, or slave when a slave was asked for, so
  // host mounts still reach it), so the rootfs bind below is not shared either and nothing the
  // container mounts propagates to the host. The asked propagation is given to / again after
  // pivot_root. So does the state dir's, where an overlay's tmpfs is mounted.
  const parents = new Set<string>();
  for (const p of [...(overlay.newRoot ? [] : [input.rootfs]), ...(overlay.base === input.rootfs ? [input.rootfs] : overlay.base ? [input.stateDir] : [])]) {
    const parent = mountOf(host, p);
    // Shared after the change above: what it made of /, or of everything when recursive; else as on the host.
    if (parent && !parents.has(parent.point) && ((propagation & MS.REC) || parent.point === '/' ? (propagation & MS.SHARED) !== 0 : parent.shared)) {
      parents.add(parent.point);
      plan.push({ op: 'mount', source: '', target: parent.point, fstype: '', flags: propagation & MS.SLAVE ? MS.SLAVE : MS.PRIVATE, data: '' });
    }
  }

  plan.push(...overlay.ops);
  const root = overlay.newRoot ?? input.rootfs;
  if (!overlay.newRoot) plan.push({ op: 'mount', source: root, target: root, fstype: '', flags: MS.BIND | MS.REC, data: '' });
  // From here on every path into the rootfs is relative: nsinit resolves it inside the root,
  // where the mount is made (see inRoot).
  plan.push({ op: 'rootfs', path: root });
  // Paths are resolved against the lower layer; the merged view has the same tree.
  const resolve = (p: string) => inRoot(input.rootfs, input.resolve(p));

  let devIsTmpfs = false;
  let hasPts = false;
  let devReadonly: PlanOp | null = null;
  (spec.mounts ?? []).forEach((original, i) => {
    const m = userns ? usernsMount(original, i, userns, owned, types, host) : original;
    const target = resolve(m.destination);
    // A file bound onto a path that does not exist yet gets a file there, not a directory.
    if (isFileBind(host, m)) plan.push(...mkdirs(path.dirname(target)), { op: 'mkfile', path: target, mode: 0o644 });
    else plan.push(...mkdirs(target));
    if (m.type === 'cgroup') {
      // In the host's cgroup namespace a fresh mount shows the hierarchy's root: bind the container's own cgroup instead (runc).
      // So on pure v2 in a user namespace: the one cgroup2 superblock is the host's user namespace's, and a
      // cgroup namespace a user namespace owns cannot mount it (the kernel's EBUSY; runc then binds).
      const pureV2UserNs = Boolean(userns) && input.hostCgroups.some((h) => h.fstype === 'cgroup2' && h.dir === '');
      const own = fresh('cgroup') && !pureV2UserNs ? undefined : [...(input.cgroupDirs?.monitor ?? []), ...(input.cgroupDirs?.child ?? [])];
      plan.push(...cgroupMounts(target, m, input.hostCgroups, own));
      return;
    }
    const isDev = m.destination === '/dev' && m.type === 'tmpfs';
    if (isDev && m.options?.includes('ro')) {
      // A read-only /dev still needs its mount points and nodes made: read-only once they are (runc).
      plan.push(...mountOps({ ...m, options: m.options.filter((o) => o !== 'ro') }, target, undefined, undefined, spec.linux?.mountLabel));
      const o = parseMountOptions(m.options);
      devReadonly = { op: 'mount', source: '', target, fstype: '', flags: MS.REMOUNT | o.flags, data: o.data };
    } else if (overlay.sources.has(i)) {
      // Bound from its overlay's merged view, which has no flag locked but those it was given.
      plan.push(...mountOps({ ...m, source: overlay.sources.get(i)! }, target, () => overlay.flags.get(i)!, undefined, spec.linux?.mountLabel));
    } else {
      plan.push(...mountOps(m, target, userns ? (source) => lockedFlags(host, source) : undefined, held.get(i), spec.linux?.mountLabel));
    }
    if (isDev) devIsTmpfs = true;
    if (m.destination === '/dev/pts') hasPts = true;
  });
  plan.push(...deviceOps(spec.linux?.devices, { host, rootfs: input.rootfs, resolve: input.resolve, userns: Boolean(userns), devIsTmpfs, hasPts }));
  if (devReadonly) plan.push(devReadonly);
  return plan;
}

/** A bind mount whose source is anything but a directory (a file, a device, a socket). */
export function isFileBind(host: HostFacts, m: Mount): boolean {
  if (!isBindMount(m) || !m.source) return false;
  const st = known(host.stats, m.source, 'stat');
  return st !== null && st.kind !== 'dir';
}

/**
 * `locked`: in a user namespace, the flags a bind keeps from its source mount (lockedFlags).
 * `held`: the index of this bind's `hold` (cloned before a user namespace), attached instead of bound.
 */
export function mountOps(m: Mount, target: string, locked?: (source: string) => number, held?: number, mountLabel?: string): PlanOp[] {
  const o = parseMountOptions(m.options);
  const ops: PlanOp[] = [];
  if (isBindMount(m)) {
    const source = m.source ?? '';
    if (held !== undefined) ops.push({ op: 'mount-held', index: held, target, source });
    else ops.push({ op: 'mount', source, target, fstype: '', flags: MS.BIND | (o.flags & MS.REC), data: '' });
    const rest = o.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
    if (rest) ops.push({ op: 'mount', source: '', target, fstype: '', flags: MS.REMOUNT | MS.BIND | rest | (locked?.(source) ?? 0), data: '' });
  } else {
    ops.push({ op: o.copyup ? 'mount-copyup' : 'mount', source: m.source ?? m.type ?? 'none', target, fstype: m.type ?? '', flags: o.flags, data: withMountLabel(o.data, m.type ?? '', mountLabel) });
  }
  for (const p of o.propagation) ops.push({ op: 'mount', source: '', target, fstype: '', flags: p, data: '' });
  if (o.recursive) ops.push({ op: 'mount-setattr', path: target, set: o.recursive.set, clear: o.recursive.clear });
  return ops;
}

/**
 * A `cgroup` mount. cgroup v2 only (the host's cgroup2 is /sys/fs/cgroup itself): the
 * container's own cgroup2 at the destination, a fresh mount in its cgroup namespace, else a
 * bind of its cgroup (runc). v1 and hybrid: a tmpfs holding each host hierarchy mounted afresh
 * (the container's cgroup namespace view), or its own cgroup of each bound.
 */
export function cgroupMounts(target: string, m: Mount, hostCgroups: HostCgroupMount[], ownDirs?: string[]): PlanOp[] {
  const o = parseMountOptions(m.options);
  const base = o.flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME);
  if (hostCgroups.some((h) => h.fstype === 'cgroup2' && h.dir === '')) {
    const own = ownDirs?.find((d) => d === '/sys/fs/cgroup' || d.startsWith('/sys/fs/cgroup/'));
    if (!own) return [{ op: 'mount', source: 'cgroup2', target, fstype: 'cgroup2', flags: base | (o.flags & MS.RDONLY), data: '' }];
    return [
      { op: 'mount', source: own, target, fstype: '', flags: MS.BIND, data: '' },
      { op: 'mount', source: '', target, fstype: '', flags: MS.REMOUNT | MS.BIND | base | (o.flags & MS.RDONLY), data: '' },
    ];
  }
  const ops: PlanOp[] = [{ op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: base, data: 'mode=755' }];
  const links: PlanOp[] = [];
  for (const h of hostCgroups) {
    if (!h.dir || h.dir.includes('/')) continue;
    const dir = path.join(target, h.dir);
    ops.push({ op: 'mkdir', path: dir, mode: 0o755 });
    const hostDir = path.join('/sys/fs/cgroup', h.dir);
    const own = ownDirs?.find((d) => d === hostDir || d.startsWith(hostDir + '/'));
    if (own) {
      ops.push(
        { op: 'mount', source: own, target: dir, fstype: '', flags: MS.BIND, data: '' },
        { op: 'mount', source: '', target: dir, fstype: '', flags: MS.REMOUNT | MS.BIND | base | (o.flags & MS.RDONLY), data: '' },
      );
    } else {
      ops.push({ op: 'mount', source: h.fstype === 'cgroup2' ? 'cgroup2' : 'cgroup', target: dir, fstype: h.fstype, flags: base | (o.flags & MS.RDONLY), data: h.options });
    }
    // Co-mounted controllers (cpu,cpuacct) get the usual per-controller names as symlinks.
    const ctrls = h.options.split(',').filter((c) => c && !c.startsWith('name=') && c !== h.dir);
    if (h.fstype === 'cgroup' && h.dir.includes(',')) for (const c of ctrls) links.push({ op: 'symlink', target: h.dir, linkpath: path.join(target, c) });
  }
  ops.push(...links);
  if (o.flags & MS.RDONLY) ops.push({ op: 'mount', source: '', target, fstype: '', flags: MS.REMOUNT | MS.BIND | MS.RDONLY | base, data: '' });
  return ops;
}

/**
 * The flags of the host mount holding `p` that a user namespace locks on its copies
 * (ro, nosuid, nodev, noexec): a remount of a bind must restate them or fails with EPERM.
 * Atime flags are kept by the kernel when a remount names none.
 */
export function lockedFlags(host: HostFacts, p: string): number {
  const m = mountOf(host, p);
  if (!m) return 0;
  const LOCKED: Record<string, number> = { ro: MS.RDONLY, nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC };
  return m.opts.split(',').reduce((acc, o) => acc | (LOCKED[o] ?? 0), 0);
}

/** The mount (in HostFacts.mountinfo) that holds path p: its mount point, options, and whether it is shared. */
export function mountOf(host: HostFacts, p: string): { point: string; opts: string; shared: boolean } | null {
  const real = known(host.realpaths, p, 'the real path') ?? p;
  let best: { point: string; opts: string; shared: boolean } | null = null;
  if (host.mountinfo === null) return null;
  for (const line of host.mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    const point = f[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    const inside = point === '/' || real === point || real.startsWith(point + '/');
    // Later lines are mounted over earlier ones at the same point.
    if (inside && (!best || point.length >= best.point.length)) {
      best = { point, opts: f[5], shared: f.slice(6, f.indexOf('-')).some((o) => o.startsWith('shared:')) };
    }
  }
  return best;
}
