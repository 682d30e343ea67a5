// A container's create plan: from a validated spec (and the host's facts) to the ops nsinit
// executes. All policy lives here and in the files beside it, none in C. Pure: what it knows
// of the host comes in as HostFacts (src/oci/host-facts.ts).
import { RunaError } from '../../errors.js';
import { idMap, MS, type PlanOp } from '../../nsinit/plan.js';
import { checkIntelRdt } from '../../cgroups/resctrl.js';
import type { HostFacts } from '../host-facts.js';
import { idmapOps, mountIdmap, type MountIdmap } from '../idmap.js';
import { netDeviceOps } from '../netdevices.js';
import { checkSecurity } from '../security.js';
import type { Spec } from '../spec.js';
import { checkSysctls, sysctlFile } from '../sysctl.js';
import { NS_FLAG, type PlanInput } from './common.js';
import { capNamesMask } from '../linux.js';
import { NET_RAW, withoutNetRaw } from './network.js';
import { isBindMount, parseMountOptions, PROPAGATION } from './mount-options.js';
import { lockedFlags, rootfsOps } from './mounts.js';
import { NO_OVERLAY, overlaid, overlayLayout } from './overlay.js';
import {
  cloneInto, cwdMkdirs, deathsigOps, forkOp, homeIn, hostProcessOps, joinCgroup, joinRdt, listenerOps, pidfdOps, processOps, stdioOps, winsizeOps,
} from './process.js';
import { becomeRoot, checkReachable, madeInOwnUserNs, ownUserNs, unprivilegedUserns, userNamespace } from './userns.js';

export function buildPlan(input: PlanInput, host: HostFacts): PlanOp[] {
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
  checkSysctls(spec.linux?.sysctl, { types, joined, nsFiles: host.nsFiles });
  const timeOffsets = timeNamespaceOps(spec.linux?.timeOffsets, types.has('time'), joined.get('time'), host.timeNamespaces);
  checkSecurity(spec, host.security);
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
  const userns = userNamespace(spec, joined.get('user'), host);
  const netdevs = netDeviceOps(spec, { types, unprivileged: Boolean(unpriv), interfaces: host.interfaces });
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
  let rootHold: number | undefined;
  if (mnt && !unpriv) {
    (spec.mounts ?? []).forEach((m, i) => {
      if (!isBindMount(m) || !m.source?.startsWith('/') || (!userns && !idmapped.has(i))) return;
      held.set(i, holds.length);
      holds.push({ op: 'hold', path: m.source, recursive: (parseMountOptions(m.options).flags & MS.REC) !== 0 });
    });
    // --overlay2 in a user namespace: the rootfs too, attached where the overlay's tmpfs is (overlay.ts).
    const layers = overlaid(input, host);
    if (userns && (layers.root || layers.binds.length)) {
      rootHold = holds.length;
      holds.push({ op: 'hold', path: input.rootfs, recursive: true });
    }
    holds.push(...idmapOps([...idmapped].map(([i, idmap]) => ({ held: held.get(i)!, idmap }))));
  }
  if (userns) checkReachable(userns, input.rootfs, 'root.path', true, host);
  /** --overlay2: the in-memory layers, refused before anything is made where they cannot be. */
  const overlay = input.overlay ? overlayLayout(input, host, held, rootHold) : NO_OVERLAY;
  /** A namespace created for the container (so, in a user namespace, owned by it). */
  const fresh = (t: string) => types.has(t) && !joined.has(t);
  /** A namespace whose own file systems (sysfs, mqueue) can be mounted in the container: fresh, or made in the runtime's user namespace. */
  const owned = (t: string) => fresh(t) || (!userns && Boolean(input.inUserNs) && joined.has(t) && madeInOwnUserNs(host, joined.get(t)!, t));

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
  // The process is born in the cgroup2 directory (it never runs outside it); the v1 ones it writes itself into.
  const join = cloneInto(input.cgroupDirs);
  // Its new pid namespace is then made by that clone, not unshared before it: the kernel gives
  // a clone its pid before the cgroup can refuse it (pids.max), and a namespace whose first
  // process failed so takes no other; nsinit's fork and write that follow need a fresh one.
  const newPid = Boolean(join.cgroup) && fresh('pid');
  const unshared = order.filter((t) => !joined.has(t) && t !== 'cgroup' && !(t === 'pid' && newPid)).map((t) => NS_FLAG[t]);
  if (unshared.length) plan.push({ op: 'unshare', namespaces: unshared });
  // A new time namespace's clocks are set before any process is in it (the fork below).
  plan.push(...timeOffsets);
  const cgroupNs: PlanOp[] = fresh('cgroup') ? [{ op: 'unshare', namespaces: ['cgroup'] }] : [];
  // The monitor is in the container's network namespace now (made or joined): the interfaces move in.
  if (netdevs.length) plan.push({ op: 'netdev-move' });
  if (types.has('uts') && spec.hostname) plan.push({ op: 'sethostname', name: spec.hostname });
  if (types.has('uts') && spec.domainname) plan.push({ op: 'setdomainname', name: spec.domainname });
  if (types.has('network')) plan.push({ op: 'loopback' });
  plan.push(forkOp(input.supervised, join.cgroup, newPid));
  const deathsig = deathsigOps(input.supervised);
  if (userns) {
    // The cgroup files are host root's: join while still host uid 0 (the monitor, which clones
    // into the cgroup2 one, keeps host uid 0 in the namespace). Then become the namespace's
    // root at once (host uid 0 is unmapped inside: files it creates on mounts made in here are
    // refused), and set pdeathsig after that credential change.
    plan.push(...joinCgroup(join.writes), ...joinRdt(input.rdtDir), ...cgroupNs, ...becomeRoot(groupsDenied), ...deathsig);
  } else {
    plan.push(...deathsig, ...joinCgroup(join.writes), ...joinRdt(input.rdtDir), ...cgroupNs);
    if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
  }
  const requested = spec.linux?.rootfsPropagation ? PROPAGATION[spec.linux.rootfsPropagation] : undefined;
  /** Where mounts are made under a user namespace's limits: the container's own, or the runtime's (inUserNs). */
  const mountsNs = userns ?? (input.inUserNs ? ownUserNs(host) : null);
  if (mnt) plan.push(...rootfsOps(input, { host, joined, userns: mountsNs, fresh, owned, types, requested, held, overlay }));

  // Create-time hooks: the namespaces and mounts exist, the root is not pivoted yet. A hook
  // point costs a round trip to the spawner, so there is one only where hooks are configured.
  for (const kind of ['prestart', 'createRuntime', 'createContainer'] as const) {
    if (spec.hooks?.[kind]?.length) plan.push({ op: 'hookpoint', name: kind });
  }
  if (mnt) {
    plan.push({ op: 'pivot_root', newRoot: overlay.newRoot ?? input.rootfs });
    plan.push(...cwdMkdirs(spec.process.cwd));
    if (spec.root.readonly) {
      // In a user namespace the rootfs bind keeps its host mount's locked flags: restate them.
      const locked = mountsNs && !overlay.root ? lockedFlags(host, input.rootfs) : 0;
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
  // runc's init always leads a session of its own (nsexec's stage 2; a console makes one
  // anyway): CRIU dumps only a tree whose session leader is inside it (else --shell-job).
  else plan.push({ op: 'setsid' });
  plan.push({ op: 'gate-signals', mask: GATE_SIGNALS });
  // --net-raw=false (runsc): CAP_NET_RAW leaves the init's sets (exec'd processes keep the config's).
  const dropNetRaw = input.netRaw === false;
  plan.push(...processOps(dropNetRaw ? withoutNetRaw(spec.process) : spec.process, {
    withHostOps: !userns, seccomp: input.seccomp, supervised: input.supervised, unprivileged: Boolean(unpriv),
    personality: spec.linux?.personality, memoryPolicy: spec.linux?.memoryPolicy,
    home: () => homeIn(host.passwd, spec.process.user.uid), keyring: input.keyring, apparmorExecAttr: host.apparmorExecAttr,
    ...(dropNetRaw ? { capdrop: capNamesMask([NET_RAW]) } : {}),
  }));
  return plan;
}

/**
 * The signals that end a created container's init, waiting for `start` (`runa kill` of a created
 * container): runc's init waits in Go, whose runtime dies of SIGHUP, SIGINT, SIGTERM and throws on
 * SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSTKFLT, SIGSYS sent by kill(2), and
 * drops every other signal (SIGUSR1, SIGPIPE, SIGALRM, real-time signals, …): runc's container then
 * stays created. (runc's init exits 2 then; runa's, 128+signal.)
 */
export const GATE_SIGNALS = [1, 2, 3, 4, 5, 6, 7, 8, 11, 15, 16, 31].reduce((m, s) => m | (1n << BigInt(s)), 0n);

/**
 * linux.timeOffsets: written to /proc/self/timens_offsets after the time namespace is unshared
 * and before the fork puts the process in it. runc's refusals: offsets without a time namespace
 * of the container's own; and a kernel without time namespaces (Linux < 5.6, HostFacts.timeNamespaces).
 */
function timeNamespaceOps(offsets: NonNullable<Spec['linux']>['timeOffsets'], hasTime: boolean, joinedPath: string | undefined, kernelHas: boolean): PlanOp[] {
  const entries = Object.entries(offsets ?? {});
  if (hasTime && !kernelHas) {
    throw new RunaError('unsupported', 'config.json: linux.namespaces: time namespaces are not supported by this kernel (Linux 5.6 or later has them)');
  }
  if (!entries.length) return [];
  if (!hasTime) throw new RunaError('invalid_spec', 'config.json: linux.timeOffsets: time namespace offsets specified, but time namespace isn\'t enabled in the config');
  if (joinedPath) throw new RunaError('invalid_spec', `config.json: linux.timeOffsets: the offsets of a time namespace joined by path (${joinedPath}) cannot be set`);
  const value = entries.map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}`).join('\n');
  return [{ op: 'write', path: '/proc/self/timens_offsets', value }];
}
