// From a validated spec to the plan nsinit executes. All policy lives here, none in C.
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';
import { idMap, MS, type IdMapping, type PlanOp } from '../nsinit/plan.js';
import type { Mount, Spec } from './spec.js';
type Personality = NonNullable<NonNullable<Spec['linux']>['personality']>;
import type { HostCgroupMount } from '../cgroups/host.js';
import { secureJoin } from './secure-join.js';
import { capNamesMask, NS_PROC_NAME, RLIMITS } from './linux.js';
import type { SeccompLoad } from '../seccomp/index.js';
import type { Unprivileged } from '../rootless.js';
import { checkSysctls, sysctlFile } from './sysctl.js';
import { affinityOps, ioPriorityOp, memoryPolicyOp, personalityOp, schedulerOp } from './process-attrs.js';
import { checkSecurity, labelOps, withMountLabel } from './security.js';
import { checkIntelRdt } from '../cgroups/resctrl.js';
import { netDeviceOps } from './netdevices.js';
import { IDMAP_OPTIONS, idmapOps, mountIdmap, type MountIdmap } from './idmap.js';

const FLAG_OPTIONS: Record<string, { set?: number; clear?: number }> = {
  defaults: {}, rw: { clear: MS.RDONLY }, ro: { set: MS.RDONLY },
  suid: { clear: MS.NOSUID }, nosuid: { set: MS.NOSUID }, dev: { clear: MS.NODEV }, nodev: { set: MS.NODEV },
  exec: { clear: MS.NOEXEC }, noexec: { set: MS.NOEXEC }, sync: { set: MS.SYNCHRONOUS }, async: { clear: MS.SYNCHRONOUS },
  dirsync: { set: MS.DIRSYNC }, remount: { set: MS.REMOUNT }, mand: { set: MS.MANDLOCK }, nomand: { clear: MS.MANDLOCK },
  atime: { clear: MS.NOATIME }, noatime: { set: MS.NOATIME }, diratime: { clear: MS.NODIRATIME }, nodiratime: { set: MS.NODIRATIME },
  bind: { set: MS.BIND }, rbind: { set: MS.BIND | MS.REC }, relatime: { set: MS.RELATIME }, norelatime: { clear: MS.RELATIME },
  strictatime: { set: MS.STRICTATIME }, nostrictatime: { clear: MS.STRICTATIME }, lazytime: { set: MS.LAZYTIME },
  nolazytime: { clear: MS.LAZYTIME }, nosymfollow: { set: MS.NOSYMFOLLOW }, symfollow: { clear: MS.NOSYMFOLLOW },
};
const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC, shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC, unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

export interface MountOptions {
  flags: number;
  propagation: number[];
  data: string;
  copyup: boolean;
  /** runc's recursive options (rro, rnosuid, …): mount_setattr(2) attributes set and cleared on the whole tree */
  recursive?: { set: number; clear: number };
}

// mount_setattr(2) attributes (linux/mount.h) for runc's recursive mount options.
const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, ATIME: 0x70, RELATIME: 0, NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, NOSYMFOLLOW: 0x200000 } as const;
const RECURSIVE_OPTIONS: Record<string, { set?: number; clear?: number }> = {
  rro: { set: MOUNT_ATTR.RDONLY }, rrw: { clear: MOUNT_ATTR.RDONLY },
  rnosuid: { set: MOUNT_ATTR.NOSUID }, rsuid: { clear: MOUNT_ATTR.NOSUID },
  rnodev: { set: MOUNT_ATTR.NODEV }, rdev: { clear: MOUNT_ATTR.NODEV },
  rnoexec: { set: MOUNT_ATTR.NOEXEC }, rexec: { clear: MOUNT_ATTR.NOEXEC },
  rnodiratime: { set: MOUNT_ATTR.NODIRATIME }, rdiratime: { clear: MOUNT_ATTR.NODIRATIME },
  rnosymfollow: { set: MOUNT_ATTR.NOSYMFOLLOW }, rsymfollow: { clear: MOUNT_ATTR.NOSYMFOLLOW },
  // The access-time modes replace one another (MOUNT_ATTR__ATIME is cleared first).
  rrelatime: { set: MOUNT_ATTR.RELATIME, clear: MOUNT_ATTR.ATIME }, rnorelatime: { clear: MOUNT_ATTR.ATIME },
  rnoatime: { set: MOUNT_ATTR.NOATIME, clear: MOUNT_ATTR.ATIME }, ratime: { clear: MOUNT_ATTR.ATIME },
  rstrictatime: { set: MOUNT_ATTR.STRICTATIME, clear: MOUNT_ATTR.ATIME }, rnostrictatime: { clear: MOUNT_ATTR.ATIME },
};
export const RECURSIVE_MOUNT_OPTIONS = Object.keys(RECURSIVE_OPTIONS);

export function parseMountOptions(options: string[] = []): MountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  let copyup = false;
  let recursive: MountOptions['recursive'];
  for (const o of options) {
    const f = FLAG_OPTIONS[o];
    if (f) { flags = (flags | (f.set ?? 0)) & ~(f.clear ?? 0); continue; }
    if (o in PROPAGATION) { propagation.push(PROPAGATION[o]); continue; }
    // runc's extension (podman's tmpfs mounts): the tmpfs starts with what the directory held.
    if (o === 'tmpcopyup') { copyup = true; continue; }
    // runc's idmapped bind mounts (src/oci/idmap.ts): not kernel data.
    if (IDMAP_OPTIONS.includes(o)) continue;
    const r = RECURSIVE_OPTIONS[o];
    if (r) {
      recursive ??= { set: 0, clear: 0 };
      recursive.set = (recursive.set & ~(r.clear ?? 0)) | (r.set ?? 0);
      recursive.clear = (recursive.clear & ~(r.set ?? 0)) | (r.clear ?? 0);
      continue;
    }
    data.push(o);
  }
  return { flags, propagation, data: data.join(','), copyup, ...(recursive ? { recursive } : {}) };
}

const NS_FLAG: Record<string, string> = { pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup', mount: 'mnt', time: 'time' };

export interface PlanInput {
  spec: Spec;
  stateDir: string;
  /** host path of the rootfs (the lower layer when overlay is set) */
  rootfs: string;
  /**
   * resolve a container path to a host path inside the rootfs (the Gofer's secureJoin), for
   * clear errors and runc's meaning of rootfs symlinks; the plan carries the answer as a
   * relative path that nsinit resolves inside the root again when it acts (see inRoot)
   */
  resolve(containerPath: string): string;
  /** a writable in-memory layer over the rootfs (runsc --overlay) */
  overlay?: boolean;
  hostCgroups: HostCgroupMount[];
  /** the container's cgroup directories (see CgroupDirs) */
  cgroupDirs?: CgroupDirs;
  /** process.terminal: a pty sent over --console-socket, or relayed by the monitor */
  console?: 'socket' | 'proxy' | null;
  consoleSocket?: string;
  /** linux.seccomp, compiled */
  seccomp?: SeccompLoad;
  /**
   * The caller supervises (it passed --pid-file): the process is forked as the spawner's child
   * (fork-sibling), so that the caller's subreaper reaps it, and gets no pdeathsig (its parent,
   * the spawner, exits right after create).
   */
  supervised?: boolean;
  /**
   * Rootless: the monitor runs as a user without host privileges (runc's RootlessEUID). A user
   * namespace is required, its maps are written as the kernel lets a user (or by
   * newuidmap/newgidmap), nothing is held or joined that needs host root, and no groups are set.
   */
  unprivileged?: Unprivileged;
  /**
   * The runtime runs as root of a user namespace it did not make, that does not map every id
   * (rootless podman's: the container shares it). The container gets no user namespace of its
   * own, but every mount namespace it makes is owned by that one: no device nodes (the host's
   * are bound), no sysfs, mqueue or cgroup file system of a namespace it does not own (the
   * host's are bound), and binds keep the flags their source mounts have locked.
   */
  inUserNs?: boolean;
  /** the session keyring to join (sessionKeyring), or null to keep the caller's (--no-new-keyring) */
  keyring?: string | null;
  /** --pidfd-socket: where a pidfd of the process goes */
  pidfdSocket?: string;
  /** linux.intelRdt: the CLOS directory the process joins (its tasks file), made by the daemon */
  rdtDir?: string;
}


const DEFAULT_DEVICES: Array<[string, number, number]> = [
  ['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0],
];
const S_IFCHR = 0o020000;

export function buildPlan(input: PlanInput): PlanOp[] {
  const { spec } = input;
  const namespaces = spec.linux?.namespaces ?? [];
  const joined = new Map<string, string>(namespaces.filter((n) => n.path).map((n) => [n.type, n.path!]));
  const types = new Set<string>(namespaces.map((n) => n.type));
  // Without a mount namespace the process keeps the host's filesystem: runc sets a rootfs up
  // only in a new mount namespace, and refuses what would need one.
  const mnt = types.has('mount');
  if (!mnt && (spec.linux?.maskedPaths?.length || spec.linux?.readonlyPaths?.length)) {
    throw new RunaError('invalid_spec', 'config.json: unable to restrict sys entries without a private MNT namespace');
  }
  if (spec.hostname !== undefined && spec.hostname !== '' && !types.has('uts')) {
    throw new RunaError('invalid_spec', 'config.json: hostname: unable to set hostname without a private UTS namespace');
  }
  if (spec.domainname !== undefined && spec.domainname !== '' && !types.has('uts')) {
    throw new RunaError('invalid_spec', 'config.json: domainname: unable to set domainname without a private UTS namespace');
  }
  checkSysctls(spec.linux?.sysctl, { types, joined });
  const timeOffsets = timeNamespaceOps(spec.linux?.timeOffsets, types.has('time'), joined.get('time'));
  checkSecurity(spec);
  if (spec.linux?.intelRdt) checkIntelRdt(spec.linux.intelRdt);
  (spec.mounts ?? []).forEach((m, i) => {
    // runc's validator: a bind mount takes flags only; data would be silently dropped by the kernel.
    if (isBindMount(m) && parseMountOptions(m.options).data) {
      throw new RunaError('invalid_spec', `config.json: mounts.${i}: invalid mount on ${m.destination}: bind mounts cannot have any filesystem-specific options applied (${parseMountOptions(m.options).data})`);
    }
  });
  const unpriv = input.unprivileged;
  // runc's words (libcontainer/configs/validate/rootless.go).
  if (unpriv && !types.has('user')) throw new RunaError('invalid_spec', 'rootless container requires user namespaces');
  if (unpriv && spec.process.user.additionalGids?.length) throw new RunaError('invalid_spec', 'cannot set any additional groups in a rootless container');
  const userns = userNamespace(spec, joined.get('user'));
  const netdevs = netDeviceOps(spec, { types, unprivileged: Boolean(unpriv) });
  /** Idmapped mounts (by mount index), checked even without a mount namespace (runc checks them first). */
  const idmapped = new Map<number, MountIdmap>();
  (spec.mounts ?? []).forEach((m, i) => {
    const idmap = mountIdmap(m, i, { isBind: isBindMount(m), userns: Boolean(userns), containerMaps: userns, unprivileged: Boolean(unpriv) });
    if (idmap) idmapped.set(i, idmap);
  });
  /**
   * Bind mounts cloned from before the user namespace, and idmapped ones (mount index → index of
   * its `hold`); not rootless: cloning needs host root, and so does MOUNT_ATTR_IDMAP.
   */
  const held = new Map<number, number>();
  const holds: PlanOp[] = [];
  if (mnt && !unpriv) {
    (spec.mounts ?? []).forEach((m, i) => {
      if (!isBindMount(m) || !m.source?.startsWith('/') || (!userns && !idmapped.has(i))) return;
      held.set(i, holds.length);
      holds.push({ op: 'hold', path: m.source, recursive: (parseMountOptions(m.options).flags & MS.REC) !== 0 });
    });
    holds.push(...idmapOps([...idmapped].map(([i, idmap]) => ({ held: held.get(i)!, idmap }))));
  }
  if (userns) checkReachable(userns, input.rootfs, 'root.path', true);
  /** A namespace created for the container (so, in a user namespace, owned by it). */
  const fresh = (t: string) => types.has(t) && !joined.has(t);
  /** A namespace whose own file systems (sysfs, mqueue) can be mounted in the container: fresh, or made in the runtime's user namespace. */
  const owned = (t: string) => fresh(t) || (!userns && Boolean(input.inUserNs) && joined.has(t) && madeInOwnUserNs(joined.get(t)!, t));

  const plan: PlanOp[] = [{ op: 'statedir', path: input.stateDir }, ...stdioOps(input.console), ...listenerOps(input.seccomp), ...pidfdOps(input.pidfdSocket), ...joinCgroup(input.cgroupDirs?.monitor)];
  // linux.netDevices: queued with a helper forked now, in the runtime's namespaces (see netdev-move below).
  plan.push(...netdevs);
  // Bind sources are opened (and idmapped binds made) while still host root, before any namespace
  // is joined: the mapped root may not reach them (runc), and idmap-userns forks (not into a joined pid namespace).
  plan.push(...holds);
  // pid and time last: setns/unshare of either only applies to the children forked after it.
  const order = ['ipc', 'uts', 'network', 'cgroup', 'time', 'pid'].filter((t) => types.has(t));
  // Every namespace joined by path before the user namespace: a host-owned one cannot be
  // joined once the monitor's capabilities only count inside it. Rootless, after it: the
  // monitor has no capabilities outside, and only the user namespace gives it some.
  const joinOthers = () => { for (const t of order) if (joined.has(t)) plan.push({ op: 'setns', path: joined.get(t)!, nstype: NS_FLAG[t] as 'ipc' }); };
  if (!unpriv) joinOthers();
  /** Rootless with setgroups denied (a map of the user's own gid): no setgroups(2) inside. */
  let groupsDenied = Boolean(unpriv);
  if (userns) {
    // What needs host privileges (or host paths) happens while the monitor still has them:
    // the child inherits the limits, the oom score and the console socket.
    plan.push(...hostProcessOps(spec.process));
    if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
    if (userns.joined) plan.push({ op: 'setns', path: userns.joined, nstype: 'user' });
    else if (unpriv) {
      const op = unprivilegedUserns(userns.uid!, userns.gid!, unpriv);
      groupsDenied = op.setgroups === 'deny';
      plan.push(op);
    } else plan.push({ op: 'userns', uidMap: idMap(userns.uid!), gidMap: idMap(userns.gid!) });
  }
  if (unpriv) joinOthers();
  // A cgroup namespace of its own is made by the child once it is in its cgroup (below), so
  // that the container's cgroup is the namespace's root: /proc/self/cgroup reads `0::/`, a
  // fresh cgroup2 mount shows the container's cgroup (runc unshares it after the cgroup join).
  const unshared = order.filter((t) => !joined.has(t) && t !== 'cgroup').map((t) => NS_FLAG[t]);
  if (unshared.length) plan.push({ op: 'unshare', namespaces: unshared });
  // A new time namespace's clocks are set before any process is in it (the fork below).
  plan.push(...timeOffsets);
  const cgroupNs: PlanOp[] = fresh('cgroup') ? [{ op: 'unshare', namespaces: ['cgroup'] }] : [];
  // The monitor is in the container's network namespace now (made or joined): the interfaces move in.
  if (netdevs.length) plan.push({ op: 'netdev-move' });
  if (types.has('uts') && spec.hostname) plan.push({ op: 'sethostname', name: spec.hostname });
  if (types.has('uts') && spec.domainname) plan.push({ op: 'setdomainname', name: spec.domainname });
  if (types.has('network')) plan.push({ op: 'loopback' });
  plan.push(forkOp(input.supervised));
  const deathsig = deathsigOps(input.supervised);
  if (userns) {
    // The cgroup files are host root's: join while still host uid 0. Then become the
    // namespace's root at once (host uid 0 is unmapped inside: files it creates on mounts made
    // in here are refused), and set pdeathsig after that credential change.
    plan.push(...joinCgroup(input.cgroupDirs?.child), ...joinRdt(input.rdtDir), ...cgroupNs, ...becomeRoot(groupsDenied), ...deathsig);
  } else {
    plan.push(...deathsig, ...joinCgroup(input.cgroupDirs?.child), ...joinRdt(input.rdtDir), ...cgroupNs);
    if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
  }
  const requested = spec.linux?.rootfsPropagation ? PROPAGATION[spec.linux.rootfsPropagation] : undefined;
  /** Where mounts are made under a user namespace's limits: the container's own, or the runtime's (inUserNs). */
  const mountsNs = userns ?? (input.inUserNs ? ownUserNs() : null);
  if (mnt) plan.push(...rootfsOps(input, { joined, userns: mountsNs, fresh, owned, types, requested, held }));

  // Create-time hooks: the namespaces and mounts exist, the root is not pivoted yet. A hook
  // point costs a round trip to the spawner, so there is one only where hooks are configured.
  for (const kind of ['prestart', 'createRuntime', 'createContainer'] as const) {
    if (spec.hooks?.[kind]?.length) plan.push({ op: 'hookpoint', name: kind });
  }
  if (mnt) {
    plan.push({ op: 'pivot_root', newRoot: input.overlay ? overlayRoot(input.stateDir) : input.rootfs });
    plan.push(...cwdMkdirs(spec.process.cwd));
    if (spec.root.readonly) {
      // In a user namespace the rootfs bind keeps its host mount's locked flags: restate them.
      const locked = mountsNs && !input.overlay ? lockedFlags(input.rootfs) : 0;
      plan.push({ op: 'mount', source: '', target: '/', fstype: '', flags: MS.REMOUNT | MS.BIND | MS.RDONLY | locked, data: '' });
    }
  }

  // After pivot_root every path is the container's own.
  for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) {
    plan.push({ op: 'write', path: sysctlFile(key), value });
  }
  for (const p of spec.linux?.maskedPaths ?? []) plan.push({ op: 'mask', path: p });
  for (const p of spec.linux?.readonlyPaths ?? []) plan.push({ op: 'readonly', path: p });
  // The asked propagation, once every bind inside is made (an unbindable /dev/null could not be bound over masked paths).
  if (mnt && requested !== undefined) plan.push({ op: 'mount', source: '', target: '/', fstype: '', flags: requested, data: '' });
  if (input.console === 'socket') plan.push({ op: 'console' });
  if (input.console === 'proxy') plan.push({ op: 'console-proxy' });
  if (input.console) plan.push(...winsizeOps(spec.process));
  plan.push(...processOps(spec.process, {
    withHostOps: !userns, seccomp: input.seccomp, supervised: input.supervised, unprivileged: Boolean(unpriv),
    personality: spec.linux?.personality, memoryPolicy: spec.linux?.memoryPolicy,
    home: () => homeOf(input.rootfs, spec.process.user.uid), keyring: input.keyring,
  }));
  return plan;
}

/**
 * The user namespace of a rootless container. The kernel lets a user write one map line of its
 * own id (and its own gid only once setgroups is denied); anything more goes through
 * newuidmap/newgidmap, which check /etc/subuid and /etc/subgid (runc does the same).
 */
function unprivilegedUserns(uid: IdMapping[], gid: IdMapping[], u: Unprivileged): Extract<PlanOp, { op: 'userns-rootless' }> {
  const own = (maps: IdMapping[], id: number) => maps.length === 1 && maps[0].size === 1 && maps[0].hostID === id;
  const helper = (maps: IdMapping[], id: number, tool: string | null, field: string, kind: string, file: string): string => {
    if (own(maps, id)) return '';
    if (!tool) {
      throw new RunaError('invalid_spec',
        `config.json: ${field}: a rootless container can map only your own ${kind} (${id}) by itself; more needs ${file.includes('uid') ? 'newuidmap' : 'newgidmap'} (Debian's uidmap package) on PATH and a range in ${file}`);
    }
    return tool;
  };
  const uidHelper = helper(uid, u.uid, u.newuidmap, 'linux.uidMappings', 'uid', '/etc/subuid');
  const gidHelper = helper(gid, u.gid, u.newgidmap, 'linux.gidMappings', 'gid', '/etc/subgid');
  return { op: 'userns-rootless', uidMap: idMap(uid), gidMap: idMap(gid), setgroups: gidHelper ? '' : 'deny', uidHelper, gidHelper };
}

const overlayRoot = (stateDir: string) => path.join(stateDir, 'overlay', 'merged');

/** What a new mount namespace gets before the create-time hooks: its propagation, the rootfs (or the overlay) bound, the mounts and devices. */
function rootfsOps(input: PlanInput, c: { joined: Map<string, string>; userns: UserNs | null; fresh: (t: string) => boolean; owned: (t: string) => boolean; types: Set<string>; requested?: number; held: Map<number, number> }): PlanOp[] {
  const { spec } = input;
  const { joined, userns, fresh, owned, types, requested, held } = c;
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
  // pivot_root.
  const parent = input.overlay ? null : mountOf(input.rootfs);
  // Shared after the change above: what it made of /, or of everything when recursive; else as on the host.
  if (parent && ((propagation & MS.REC) || parent.point === '/' ? (propagation & MS.SHARED) !== 0 : parent.shared)) {
    plan.push({ op: 'mount', source: '', target: parent.point, fstype: '', flags: propagation & MS.SLAVE ? MS.SLAVE : MS.PRIVATE, data: '' });
  }

  let root = input.rootfs;
  if (input.overlay) {
    const ovl = path.dirname(overlayRoot(input.stateDir));
    if (/[,:]/.test(input.rootfs)) throw new RunaError('invalid_spec', `overlay: the root ${input.rootfs} contains ',' or ':'`);
    plan.push(
      { op: 'mount', source: 'tmpfs', target: ovl, fstype: 'tmpfs', flags: 0, data: 'mode=0755' },
      // The new root's parent: never shared (see pivot_root above).
      { op: 'mount', source: '', target: ovl, fstype: '', flags: MS.PRIVATE, data: '' },
      { op: 'mkdir', path: `${ovl}/upper`, mode: 0o755 }, { op: 'mkdir', path: `${ovl}/work`, mode: 0o755 },
      { op: 'mkdir', path: `${ovl}/merged`, mode: 0o755 },
      { op: 'mount', source: 'overlay', target: `${ovl}/merged`, fstype: 'overlay', flags: 0, data: `lowerdir=${input.rootfs},upperdir=${ovl}/upper,workdir=${ovl}/work` },
    );
    root = overlayRoot(input.stateDir);
  } else {
    plan.push({ op: 'mount', source: root, target: root, fstype: '', flags: MS.BIND | MS.REC, data: '' });
  }
  // From here on every path into the rootfs is relative: nsinit resolves it inside the root,
  // where the mount is made (see inRoot).
  plan.push({ op: 'rootfs', path: root });
  // Paths are resolved against the lower layer; the merged view has the same tree.
  const resolve = (p: string) => inRoot(input.rootfs, input.resolve(p));

  let devIsTmpfs = false;
  let hasPts = false;
  let devReadonly: PlanOp | null = null;
  (spec.mounts ?? []).forEach((original, i) => {
    const m = userns ? usernsMount(original, i, userns, owned, types) : original;
    const target = resolve(m.destination);
    // A file bound onto a path that does not exist yet gets a file there, not a directory.
    if (isFileBind(m)) plan.push(...mkdirs(path.dirname(target)), { op: 'mkfile', path: target, mode: 0o644 });
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
    } else {
      plan.push(...mountOps(m, target, userns ? lockedFlags : undefined, held.get(i), spec.linux?.mountLabel));
    }
    if (isDev) devIsTmpfs = true;
    if (m.destination === '/dev/pts') hasPts = true;
  });
  // linux.devices first, as runc makes them: a path listed twice, or already there (a /dev that
  // is not a fresh tmpfs), is left as it is (runc takes mknod's EEXIST as done); /dev/ptmx
  // gives way to the pts symlink made below (containerd lists it for a privileged container).
  const ptmxLink = devIsTmpfs && hasPts;
  const made = new Set<string>();
  for (const d of spec.linux?.devices ?? []) {
    if (made.has(d.path) || (ptmxLink && path.posix.normalize(d.path) === '/dev/ptmx')) continue;
    made.add(d.path);
    if (d.type !== 'p' && (d.major === undefined || d.minor === undefined)) {
      throw new RunaError('invalid_spec', `config.json: linux.devices: ${d.path}: major and minor are required for type ${d.type}`);
    }
    const host = input.resolve(d.path);
    if (!devIsTmpfs && lexists(host)) continue;
    const target = inRoot(input.rootfs, host);
    plan.push(...mkdirs(path.dirname(target)));
    const type = d.type === 'b' ? 0o060000 : d.type === 'p' ? 0o010000 : S_IFCHR;
    const mode = (d.fileMode ?? 0o666) & 0o7777;
    if (userns && d.type !== 'p') plan.push(...bindDevice(hostDevice(d.path, d.type === 'b', d.major!, d.minor!), target, mode));
    else {
      plan.push({ op: 'mknod', path: target, mode: type | mode, major: d.major ?? 0, minor: d.minor ?? 0 });
      // Made by root: the owner asked for, if another (a bound host node keeps its own, as in runc).
      if (d.uid || d.gid) plan.push({ op: 'lchown', path: target, uid: d.uid ?? 0, gid: d.gid ?? 0 });
    }
  }
  if (devIsTmpfs) {
    const dev = resolve('/dev');
    // A default device the spec lists again is made as the spec says (runc), not twice.
    for (const [name, major, minor] of DEFAULT_DEVICES.filter(([n]) => !made.has(`/dev/${n}`))) {
      // mknod is refused in a user namespace: bind the host's node onto an empty file.
      if (userns) plan.push(...bindDevice(`/dev/${name}`, path.join(dev, name), 0o666));
      else plan.push({ op: 'mknod', path: path.join(dev, name), mode: S_IFCHR | 0o666, major, minor });
    }
    plan.push(
      { op: 'symlink', target: '/proc/self/fd', linkpath: path.join(dev, 'fd') },
      { op: 'symlink', target: '/proc/self/fd/0', linkpath: path.join(dev, 'stdin') },
      { op: 'symlink', target: '/proc/self/fd/1', linkpath: path.join(dev, 'stdout') },
      { op: 'symlink', target: '/proc/self/fd/2', linkpath: path.join(dev, 'stderr') },
    );
    if (ptmxLink) plan.push({ op: 'symlink', target: 'pts/ptmx', linkpath: path.join(dev, 'ptmx') });
  }
  if (devReadonly) plan.push(devReadonly);
  return plan;
}

// ---- user namespaces (native/PROTOCOL.md, "User namespaces") ----

/** The container's user namespace: its maps (null when joined by a path whose maps are unknown). */
interface UserNs { joined?: string; uid: IdMapping[] | null; gid: IdMapping[] | null }

const inMap = (maps: readonly IdMapping[], id: number) => maps.some((m) => id >= m.containerID && id - m.containerID < m.size);
function toHost(maps: readonly IdMapping[], id: number): number | undefined {
  const m = maps.find((x) => id >= x.containerID && id - x.containerID < x.size);
  return m ? m.hostID + (id - m.containerID) : undefined;
}

/** A host id (as this process sees it) that the maps give an id inside. */
const hostMapped = (maps: readonly IdMapping[], id: number) => maps.some((m) => id >= m.hostID && id - m.hostID < m.size);

/** /proc/<pid>/uid_map text back to mappings; null if unreadable. */
function readIdMap(file: string): IdMapping[] | null {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => {
      const [containerID, hostID, size] = l.trim().split(/\s+/).map(Number);
      return { containerID, hostID, size };
    });
  } catch {
    return null;
  }
}

/**
 * A namespace joined by path that was made in this process's user namespace (so owned by it):
 * one of another process of that user namespace, not inherited from outside it (a rootless
 * podman pod's infra container's, not the pause process's). Other paths are not known to be.
 */
function madeInOwnUserNs(nsPath: string, type: string): boolean {
  const proc = /^\/proc\/(\d+)\/ns\/[a-z_]+$/.exec(nsPath);
  if (!proc) return false;
  const same = (a: string, b: string) => {
    try {
      const x = fs.statSync(a);
      const y = fs.statSync(b);
      return x.dev === y.dev && x.ino === y.ino;
    } catch {
      return false;
    }
  };
  return same(`/proc/${proc[1]}/ns/user`, '/proc/self/ns/user') && !same(nsPath, `/proc/self/ns/${NS_PROC_NAME[type]}`);
}

/** The user namespace this process runs in, as one the container would share (see PlanInput.inUserNs). */
function ownUserNs(): UserNs {
  return { uid: readIdMap('/proc/self/uid_map'), gid: readIdMap('/proc/self/gid_map') };
}

/** Validate linux.uidMappings/gidMappings against the user namespace, and the process's ids against them. */
function userNamespace(spec: Spec, joinedPath: string | undefined): UserNs | null {
  const types = new Set((spec.linux?.namespaces ?? []).map((n) => n.type));
  const uidMappings = spec.linux?.uidMappings ?? [];
  const gidMappings = spec.linux?.gidMappings ?? [];
  const field = uidMappings.length ? 'linux.uidMappings' : 'linux.gidMappings';
  if (!types.has('user')) {
    if (uidMappings.length || gidMappings.length) throw new RunaError('invalid_spec', `config.json: ${field}: set without a user namespace in linux.namespaces`);
    return null;
  }
  let ns: UserNs;
  if (joinedPath !== undefined) {
    if (uidMappings.length || gidMappings.length) {
      throw new RunaError('invalid_spec', `config.json: ${field}: not allowed with a user namespace joined by path (${joinedPath} has its own)`);
    }
    // The maps of /proc/<pid>/ns/user are that process's; of any other path, unknown.
    const proc = /^\/proc\/(\d+)\/ns\/user$/.exec(joinedPath);
    ns = { joined: joinedPath, uid: proc ? readIdMap(`/proc/${proc[1]}/uid_map`) : null, gid: proc ? readIdMap(`/proc/${proc[1]}/gid_map`) : null };
  } else {
    if (!uidMappings.length) throw new RunaError('invalid_spec', 'config.json: linux.uidMappings: required with a user namespace');
    if (!gidMappings.length) throw new RunaError('invalid_spec', 'config.json: linux.gidMappings: required with a user namespace');
    ns = { uid: uidMappings, gid: gidMappings };
  }
  const where = ns.joined ? `the user namespace ${ns.joined}` : null;
  const notMapped = (f: string, id: number, maps: string) =>
    new RunaError('invalid_spec', `config.json: ${f}: ${id} is not mapped by ${where ?? maps}`);
  // Setup runs as the namespace's root (setuid 0 right after fork): it must exist.
  if (ns.uid && !inMap(ns.uid, 0)) throw notMapped('linux.uidMappings', 0, 'linux.uidMappings (the container\'s root must be mapped)');
  if (ns.gid && !inMap(ns.gid, 0)) throw notMapped('linux.gidMappings', 0, 'linux.gidMappings (the container\'s root group must be mapped)');
  checkUserMapped(spec.process.user, ns.uid, ns.gid, (f, id, maps) => notMapped(`process.user.${f}`, id, maps));
  return ns;
}

function checkUserMapped(
  user: ProcessSpec['user'], uid: IdMapping[] | null, gid: IdMapping[] | null,
  error: (field: string, id: number, maps: string) => Error,
): void {
  if (uid && !inMap(uid, user.uid)) throw error('uid', user.uid, 'linux.uidMappings');
  if (gid && !inMap(gid, user.gid)) throw error('gid', user.gid, 'linux.gidMappings');
  (user.additionalGids ?? []).forEach((g, i) => { if (gid && !inMap(gid, g)) throw error(`additionalGids.${i}`, g, 'linux.gidMappings'); });
}

/**
 * The container's root is nobody special to host files: it must be able to search every
 * directory down to `target` (and `target` itself when `self`), else pivot_root or a bind
 * fails with a bare EACCES. Checked with the kernel's owner, group, other rule.
 */
function checkReachable(ns: UserNs, target: string, field: string, self: boolean): void {
  if (!ns.uid || !ns.gid) return;
  const uid = toHost(ns.uid, 0);
  const gid = toHost(ns.gid, 0);
  if (uid === undefined || gid === undefined) return;
  let real: string;
  try { real = fs.realpathSync(target); } catch { return; }
  const dirs: string[] = [];
  for (let d = self ? real : path.dirname(real); ; d = path.dirname(d)) {
    dirs.unshift(d);
    if (d === '/') break;
  }
  for (const d of dirs) {
    let st: fs.Stats;
    try { st = fs.statSync(d); } catch { return; }
    if (!st.isDirectory()) continue;
    // Its owner and group mapped inside: the root's CAP_DAC_READ_SEARCH counts (capable_wrt_inode_uidgid).
    if (hostMapped(ns.uid, st.uid) && hostMapped(ns.gid, st.gid)) continue;
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) {
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      throw new RunaError('invalid_spec',
        `config.json: ${field}: ${d} (mode ${mode}, owner ${st.uid}:${st.gid}) is not searchable by the container's root (host uid ${uid}, gid ${gid} in its user namespace), so ${real} cannot be reached: make it searchable (e.g. chmod o+x ${d})`);
    }
  }
}

/** `setgroups`, `setgid 0`, `setuid 0`: the user namespace's root (no setgroups where it is denied). */
function becomeRoot(groupsDenied = false): PlanOp[] {
  return [...(groupsDenied ? [] : [{ op: 'setgroups', gids: [] } as PlanOp]), { op: 'setgid', gid: 0 }, { op: 'setuid', uid: 0 }];
}

/**
 * A config.json mount as it can be made inside a user namespace: proc, sysfs, mqueue and
 * cgroup file systems need a namespace owned by it (else the host's are bound instead), and
 * devpts cannot be given an unmapped gid.
 */
function usernsMount(m: Mount, i: number, ns: UserNs, owned: (t: string) => boolean, types: Set<string>): Mount {
  const bindHost = (source: string, rec: boolean, why: string): Mount => {
    if (!fs.existsSync(source)) {
      throw new RunaError('invalid_spec', `config.json: mounts.${i}: ${m.type} on ${m.destination} needs ${why} in a user namespace, and the host's ${source} to bind instead does not exist`);
    }
    // Only the flags a bind can carry; atime options would have to match the host mount's.
    const keep = ['ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec'];
    return { ...m, type: 'bind', source, options: [rec ? 'rbind' : 'bind', ...(m.options ?? []).filter((o) => keep.includes(o) || o in PROPAGATION)] };
  };
  switch (m.type) {
    case 'sysfs': return owned('network') ? m : bindHost('/sys', true, 'a network namespace of its own');
    case 'mqueue': return owned('ipc') ? m : bindHost('/dev/mqueue', false, 'an ipc namespace of its own');
    case 'cgroup': return owned('cgroup') ? m : bindHost('/sys/fs/cgroup', true, 'a cgroup namespace of its own');
    case 'proc': return types.has('pid') ? m : bindHost('/proc', true, 'a pid namespace of its own');
    case 'devpts': {
      if (!ns.gid) return m;
      const options = (m.options ?? []).filter((o) => {
        const g = /^gid=(\d+)$/.exec(o);
        return !g || inMap(ns.gid!, Number(g[1]));
      });
      return { ...m, options };
    }
  }
  // Bind sources need not be reachable by the mapped root: they are held open from before (`hold`).
  return m;
}

/** The host device node to bind for a linux.devices entry: its own path if it matches, else one found under /dev. */
function hostDevice(devPath: string, block: boolean, major: number, minor: number): string {
  const matches = (p: string) => {
    try {
      const st = fs.statSync(p);
      return (block ? st.isBlockDevice() : st.isCharacterDevice()) && devMajor(st.rdev) === major && devMinor(st.rdev) === minor;
    } catch {
      return false;
    }
  };
  if (matches(devPath)) return devPath;
  const queue = ['/dev'];
  while (queue.length) {
    const dir = queue.shift()!;
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { continue; }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && p !== '/dev/pts' && p !== '/dev/shm') queue.push(p);
      else if ((block ? e.isBlockDevice() : e.isCharacterDevice()) && matches(p)) return p;
    }
  }
  throw new RunaError('invalid_spec',
    `config.json: linux.devices: ${devPath}: no ${block ? 'block' : 'character'} device ${major}:${minor} on the host to bind (device nodes cannot be created in a user namespace)`);
}
const devMajor = (rdev: number) => Number((BigInt(rdev) >> 8n) & 0xfffn | ((BigInt(rdev) >> 32n) & ~0xfffn));
const devMinor = (rdev: number) => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));

/** mkfile + bind of a host device node (mknod is refused in a user namespace). */
function bindDevice(source: string, target: string, mode: number): PlanOp[] {
  return [
    { op: 'mkfile', path: target, mode },
    { op: 'mount', source, target, fstype: '', flags: MS.BIND, data: '' },
  ];
}

/**
 * The flags of the host mount holding `p` that a user namespace locks on its copies
 * (ro, nosuid, nodev, noexec): a remount of a bind must restate them or fails with EPERM.
 * Atime flags are kept by the kernel when a remount names none.
 */
function lockedFlags(p: string): number {
  const m = mountOf(p);
  if (!m) return 0;
  const LOCKED: Record<string, number> = { ro: MS.RDONLY, nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC };
  return m.opts.split(',').reduce((acc, o) => acc | (LOCKED[o] ?? 0), 0);
}

/** The mount (as this process sees it) that holds path p: its mount point, options, and whether it is shared. */
function mountOf(p: string): { point: string; opts: string; shared: boolean } | null {
  let real = p;
  try { real = fs.realpathSync(p); } catch { /* as given */ }
  let best: { point: string; opts: string; shared: boolean } | null = null;
  let text: string;
  try { text = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return null; }
  for (const line of text.split('\n')) {
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

export type ProcessSpec = Spec['process'];

/** The working directory is created (as root) if missing, like runc does. */
function cwdMkdirs(cwd: string): PlanOp[] {
  const parts = cwd.split('/').filter(Boolean);
  return parts.map((_, i) => ({ op: 'mkdir', path: '/' + parts.slice(0, i + 1).join('/'), mode: 0o755 }) as PlanOp);
}

/**
 * The oom score and rlimits: raising either needs host capabilities, so with a user
 * namespace the monitor applies them before it enters it (the child inherits them).
 */
export function hostProcessOps(proc: ProcessSpec): PlanOp[] {
  const ops: PlanOp[] = [];
  if (proc.oomScoreAdj !== undefined) ops.push({ op: 'write', path: '/proc/self/oom_score_adj', value: String(proc.oomScoreAdj) });
  for (const r of proc.rlimits ?? []) ops.push({ op: 'rlimit', resource: RLIMITS.indexOf(r.type), soft: BigInt(r.soft), hard: BigInt(r.hard) });
  return ops;
}

/**
 * Everything about the process itself, shared by a container's init and exec'd processes
 * (without the hostProcessOps part when `withHostOps` is false: see there), up to its exec.
 * The seccomp filter goes where runc puts it: with noNewPrivileges as late as possible (after
 * the gate: nsinit loads it as exec's last step, so only execve runs under it), without it
 * while we still have CAP_SYS_ADMIN, before the capabilities and ids change.
 */
export interface ProcessOpsOptions {
  /** the hostProcessOps part too (false: the monitor did it before entering a user namespace) */
  withHostOps?: boolean;
  seccomp?: SeccompLoad;
  supervised?: boolean;
  unprivileged?: boolean;
  personality?: Personality;
  /** linux.memoryPolicy, for the init and exec'd processes */
  memoryPolicy?: NonNullable<Spec['linux']>['memoryPolicy'];
  /** HOME when the environment has none: the user's in the container's /etc/passwd (runc) */
  home?: () => string;
  /** a session keyring of the container's own to join (see sessionKeyring) */
  keyring?: string | null;
  /** an exec'd process: its cwd is not made (runc: chdir fails, nothing is created) */
  exec?: boolean;
}

/** runc's name for a container's session keyring; its processes join it instead of the caller's. */
export const sessionKeyring = (id: string): string => `_ses.${id}`;
/** KEY_GRP_SEARCH: the keyring is made searchable, as runc does after joining it. */
const KEY_GRP_SEARCH = 0x080000;

export function processOps(proc: ProcessSpec, o: ProcessOpsOptions = {}): PlanOp[] {
  const { withHostOps = true, seccomp, supervised = false, unprivileged = false, personality } = o;
  const ops: PlanOp[] = withHostOps ? hostProcessOps(proc) : [];
  const filter: PlanOp[] = seccomp ? [{ op: 'seccomp', flags: seccomp.filter.flags, program: seccomp.filter.program }] : [];
  // The init's working directory is made if missing (runc); an exec'd process's must exist.
  if (!o.exec) ops.push(...cwdMkdirs(proc.cwd));
  // Scheduling, I/O priority and personality while still root with every capability (an RT
  // policy needs CAP_SYS_NICE); all three survive the exec.
  if (proc.scheduler) ops.push(schedulerOp(proc.scheduler, 'config.json: process.scheduler'));
  if (proc.ioPriority) ops.push(ioPriorityOp(proc.ioPriority, 'config.json: process.ioPriority'));
  if (personality) ops.push(personalityOp(personality));
  if (o.memoryPolicy) ops.push(memoryPolicyOp(o.memoryPolicy, 'config.json: linux.memoryPolicy'));
  ops.push(...labelOps(proc));
  if (o.keyring) ops.push({ op: 'keyring', name: o.keyring, mask: 0xffffffff, set: KEY_GRP_SEARCH });
  if (!proc.noNewPrivileges) ops.push(...filter);
  const caps = proc.capabilities;
  if (caps) ops.push({ op: 'capbset', mask: capNamesMask(caps.bounding) }, { op: 'keepcaps' });
  const user = proc.user;
  // The working directory is entered as root first, and again as the user only if root could not (runc).
  ops.push({ op: 'chdir-early', path: proc.cwd }, { op: 'fix-stdio', uid: user.uid });
  // Rootless: no setgroups(2), as runc (additional groups were refused above; setgroups may be denied).
  if (!unprivileged) ops.push({ op: 'setgroups', gids: user.additionalGids ?? [] });
  ops.push({ op: 'setgid', gid: user.gid }, { op: 'setuid', uid: user.uid });
  if (caps) {
    ops.push(
      { op: 'capset', effective: capNamesMask(caps.effective), permitted: capNamesMask(caps.permitted), inheritable: capNamesMask(caps.inheritable) },
      // The kernel only lets a capability be ambient if it is permitted and inheritable;
      // runc warns and goes on when asked for more, runa keeps the allowed part.
      { op: 'ambient', mask: capNamesMask(caps.ambient) & capNamesMask(caps.inheritable) & capNamesMask(caps.permitted) },
    );
  }
  if (proc.noNewPrivileges) ops.push({ op: 'nonewprivs' });
  ops.push({ op: 'chdir-late' }, { op: 'umask', mode: user.umask ?? 0o022 });
  const env = proc.env ?? [];
  for (const entry of env) ops.push({ op: 'env', entry });
  if (!env.some((e) => e.startsWith('HOME='))) ops.push({ op: 'env', entry: `HOME=${o.home?.() ?? (user.uid === 0 ? '/root' : '/')}` });
  for (const value of proc.args) ops.push({ op: 'arg', value });
  // pdeathsig again after the process's own setuid/setgid: a credential change clears it.
  ops.push(...deathsigOps(supervised));
  // With noNewPrivileges the filter is loaded last: nsinit loads one given after the gate right
  // before execve (a listener's fd goes to the monitor over the setup socket: before the gate).
  const late = proc.noNewPrivileges && !seccomp?.filter.notify;
  if (proc.noNewPrivileges && !late) ops.push(...filter);
  ops.push({ op: 'gate' }, ...(late ? filter : []), { op: 'exec' });
  return ops;
}

/** The process is the monitor's child, or (supervised by the caller) the spawner's. */
const forkOp = (supervised?: boolean): PlanOp => ({ op: supervised ? 'fork-sibling' : 'fork' });
/** A monitor's child dies with it; a supervised process outlives the spawner, its parent. */
const deathsigOps = (supervised?: boolean): PlanOp[] => (supervised ? [] : [{ op: 'pdeathsig', signal: 9 }]);

/**
 * With a console socket the process's stdio is the pty: the monitor (and the process until its
 * console op) let go of the caller's stdio, so that a caller reading the runtime's output to
 * EOF is not held until the container exits (runc's pipes close when runc exits).
 */
function stdioOps(console: PlanInput['console']): PlanOp[] {
  return console === 'socket' ? [{ op: 'stdio-null' }] : [];
}

/** The monitor hands a seccomp listener fd to the runtime's listener socket. */
function listenerOps(seccomp?: SeccompLoad): PlanOp[] {
  const path = seccomp?.filter.listenerPath;
  if (!seccomp?.filter.notify || !path || seccomp.listenerState === undefined) return [];
  return [{ op: 'seccomp-listener', path, state: seccomp.listenerState }];
}

export interface ExecPlanInput {
  process: ProcessSpec;
  execDir: string;
  initPid: number;
  /** the OCI namespace types the container has */
  namespaces: string[];
  console?: 'socket' | 'proxy' | null;
  consoleSocket?: string;
  cgroupDirs?: CgroupDirs;
  seccomp?: SeccompLoad;
  /** see PlanInput.supervised */
  supervised?: boolean;
  /** see PlanInput.unprivileged */
  unprivileged?: boolean;
  /** linux.personality: the container's, for its exec'd processes too */
  personality?: Personality;
  /** linux.memoryPolicy: the container's, for its exec'd processes too */
  memoryPolicy?: NonNullable<Spec['linux']>['memoryPolicy'];
  /** the session keyring to join (sessionKeyring), or null to keep the caller's (--no-new-keyring) */
  keyring?: string | null;
  /** the container's cgroup namespace was joined by path (not made for it) */
  cgroupNsJoined?: boolean;
  /** --pidfd-socket: where a pidfd of the process goes */
  pidfdSocket?: string;
  /** linux.intelRdt: the CLOS directory the process joins (its tasks file), made by the daemon */
  rdtDir?: string;
}

/**
 * Where each process of a container goes. The monitor joins every hierarchy that cannot
 * freeze it (`monitor`), before it creates the cgroup namespace; the container's own
 * processes also join the freezing ones (`child`: the v1 freezer, the v2 unified cgroup) right
 * after the fork, before the user program runs. A frozen monitor could not serve `kill -9`
 * of a paused container.
 */
export interface CgroupDirs { monitor: string[]; child: string[] }

function joinCgroup(dirs: string[] = []): PlanOp[] {
  return dirs.map((d) => ({ op: 'write', path: `${d}/cgroup.procs`, value: '0' }) as PlanOp);
}

/**
 * An exec'd process: join the init's namespaces (pid before the fork, mount in the child).
 * With a user namespace the monitor joins it last (after it, joining a host-owned namespace
 * is refused), and the child becomes its root right after the fork, like the init did.
 */
export function buildExecPlan(input: ExecPlanInput): PlanOp[] {
  const ns = (t: string) => `/proc/${input.initPid}/ns/${NS_PROC_NAME[t]}`;
  const userns = input.namespaces.includes('user');
  checkSecurity({ process: input.process }, undefined, 'exec: ');
  const unpriv = Boolean(input.unprivileged);
  if (unpriv && input.process.user.additionalGids?.length) throw new RunaError('invalid_argument', 'cannot set any additional groups in a rootless container');
  if (userns) {
    const uid = readIdMap(`/proc/${input.initPid}/uid_map`);
    const gid = readIdMap(`/proc/${input.initPid}/gid_map`);
    checkUserMapped(input.process.user, uid, gid, (f, id) =>
      new RunaError('invalid_argument', `exec: process.user.${f}: ${id} is not mapped in the container's user namespace`));
  }
  // process.execCPUAffinity: the CPUs before the process joins the container's cgroup, and after.
  const initial = affinityOps(input.process.execCPUAffinity?.initial);
  const final = affinityOps(input.process.execCPUAffinity?.final);
  const plan: PlanOp[] = [{ op: 'statedir', path: input.execDir }, ...stdioOps(input.console), ...listenerOps(input.seccomp), ...pidfdOps(input.pidfdSocket), ...joinCgroup(input.cgroupDirs?.monitor)];
  // The container's namespaces: before its user namespace (host-owned ones need host root), or
  // rootless after it (they are owned by it, and the monitor has no capabilities outside it).
  // The cgroup namespace is joined by the child once it is in its cgroup: with nsdelegate
  // (cgroup v2), a process in the container's namespace may only move between cgroups below
  // the namespace's root, and it starts in the monitor's. Before a user namespace, in the
  // monitor, only when it was joined by path (it may be owned by the host's user namespace).
  const cgroupInMonitor = userns && !unpriv && Boolean(input.cgroupNsJoined);
  const cgroupNs: PlanOp[] = input.namespaces.includes('cgroup') && !cgroupInMonitor ? [{ op: 'setns', path: ns('cgroup'), nstype: 'cgroup' }] : [];
  const joinOthers = () => {
    for (const t of ['ipc', 'uts', 'network', 'cgroup', 'time', 'pid'] as const) {
      if (t === 'cgroup' && !cgroupInMonitor) continue;
      if (input.namespaces.includes(t)) plan.push({ op: 'setns', path: ns(t), nstype: NS_FLAG[t] as 'ipc' });
    }
  };
  if (!unpriv || !userns) joinOthers();
  if (userns) {
    plan.push(...hostProcessOps(input.process));
    if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
    plan.push({ op: 'setns', path: ns('user'), nstype: 'user' });
    if (unpriv) joinOthers();
    plan.push(forkOp(input.supervised));
    plan.push(...initial, ...joinCgroup(input.cgroupDirs?.child), ...joinRdt(input.rdtDir), ...final, ...cgroupNs, ...becomeRoot(unpriv && setgroupsDenied(input.initPid)), ...deathsigOps(input.supervised));
  } else {
    plan.push(forkOp(input.supervised), ...deathsigOps(input.supervised), ...initial, ...joinCgroup(input.cgroupDirs?.child), ...joinRdt(input.rdtDir), ...final, ...cgroupNs);
    if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
  }
  plan.push({ op: 'setns', path: ns('mount'), nstype: 'mnt' });
  if (input.console === 'socket') plan.push({ op: 'console' });
  if (input.console === 'proxy') plan.push({ op: 'console-proxy' });
  if (input.console) plan.push(...winsizeOps(input.process));
  plan.push(...processOps(input.process, {
    withHostOps: !userns, seccomp: input.seccomp, supervised: input.supervised, unprivileged: unpriv,
    personality: input.personality, memoryPolicy: input.memoryPolicy, exec: true,
    home: () => homeOf(`/proc/${input.initPid}/root`, input.process.user.uid), keyring: input.keyring,
  }));
  return plan;
}

/** The container's user namespace denies setgroups(2) (a rootless map of the user's own gid). */
function setgroupsDenied(pid: number): boolean {
  try { return fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim() === 'deny'; } catch { return true; }
}

/**
 * A host path below the rootfs (secureJoin's answer) as the relative path nsinit resolves
 * inside the root (`.` for the root itself). secureJoin gives the clear errors and runc's
 * meaning of symlinks in the rootfs; what keeps the host safe is that nsinit resolves the
 * relative path again with openat2(RESOLVE_IN_ROOT) when it acts on it, whatever changed since.
 */
function inRoot(root: string, hostPath: string): string {
  const rel = path.relative(root, hostPath);
  if (rel === '..' || rel.startsWith('../') || path.isAbsolute(rel)) throw new RunaError('invalid_mount', `mount destination ${hostPath} escapes the rootfs`);
  return rel || '.';
}

/** mkdir each component of a path inside the root (EEXIST is fine in nsinit). */
function mkdirs(target: string): PlanOp[] {
  const parts = target.split('/').filter((p) => p && p !== '.');
  return parts.map((_, i) => ({ op: 'mkdir', path: parts.slice(0, i + 1).join('/'), mode: 0o755 }) as PlanOp);
}

/** A bind mount whose source is anything but a directory (a file, a device, a socket). */
function isFileBind(m: Mount): boolean {
  if (!isBindMount(m) || !m.source) return false;
  try { return !fs.statSync(m.source).isDirectory(); } catch { return false; }
}

/** `locked`: in a user namespace, the flags a bind keeps from its source mount (lockedFlags). */
/** A bind mount: type `bind`, or a `bind`/`rbind` option. */
function isBindMount(m: Mount): boolean {
  return m.type === 'bind' || (parseMountOptions(m.options).flags & MS.BIND) !== 0;
}

/** `held`: the index of this bind's `hold` (cloned before a user namespace), attached instead of bound. */
function mountOps(m: Mount, target: string, locked?: (source: string) => number, held?: number, mountLabel?: string): PlanOp[] {
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
function cgroupMounts(target: string, m: Mount, hostCgroups: HostCgroupMount[], ownDirs?: string[]): PlanOp[] {
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
 * The home directory of `uid` in the container's /etc/passwd (read inside `root`, never through
 * a symlink that leaves it), as runc looks it up; "/" when the file or the user is not there.
 */
export function homeOf(root: string, uid: number): string {
  let text: string;
  try {
    text = fs.readFileSync(secureJoin(root, '/etc/passwd'), 'utf8');
  } catch {
    return '/';
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && /^\d+$/.test(f[2]) && Number(f[2]) === uid) return f[5] || '/';
  }
  return '/';
}

/** Whether a path exists, a dangling symlink included. */
function lexists(p: string): boolean {
  try { fs.lstatSync(p); return true; } catch { return false; }
}

/**
 * linux.timeOffsets: written to /proc/self/timens_offsets after the time namespace is unshared
 * and before the fork puts the process in it. runc's refusals: offsets without a time namespace
 * of the container's own; and a kernel without time namespaces (Linux < 5.6).
 */
function timeNamespaceOps(offsets: NonNullable<Spec['linux']>['timeOffsets'], hasTime: boolean, joinedPath?: string): PlanOp[] {
  const entries = Object.entries(offsets ?? {});
  if (hasTime && !fs.existsSync('/proc/self/ns/time')) {
    throw new RunaError('unsupported', 'config.json: linux.namespaces: time namespaces are not supported by this kernel (Linux 5.6 or later has them)');
  }
  if (!entries.length) return [];
  if (!hasTime) throw new RunaError('invalid_spec', 'config.json: linux.timeOffsets: time namespace offsets specified, but time namespace isn\'t enabled in the config');
  if (joinedPath) throw new RunaError('invalid_spec', `config.json: linux.timeOffsets: the offsets of a time namespace joined by path (${joinedPath}) cannot be set`);
  const value = entries.map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}`).join('\n');
  return [{ op: 'write', path: '/proc/self/timens_offsets', value }];
}

/** process.consoleSize on the new pty (runc: only when both are set). */
function winsizeOps(proc: ProcessSpec): PlanOp[] {
  const c = proc.consoleSize;
  return c && c.height && c.width ? [{ op: 'winsize', rows: c.height, cols: c.width }] : [];
}

/** --pidfd-socket: the monitor connects while it still sees the caller's paths. */
const pidfdOps = (socket?: string): PlanOp[] => (socket ? [{ op: 'pidfd-socket', path: socket }] : []);

/** linux.intelRdt: the process writes itself (0) into its class's tasks, right after its cgroup join. */
const joinRdt = (dir?: string): PlanOp[] => (dir ? [{ op: 'write', path: `${dir}/tasks`, value: '0' }] : []);
