// User namespaces (native/PROTOCOL.md, "User namespaces"): the container's maps checked against
// the spec and what the host allows, rootless maps, and mounts as a user namespace can make
// them. Pure: the maps and stats come from HostFacts.
import path from 'node:path';
import { RunaError } from '../../errors.js';
import { idMap, type IdMapping, type PlanOp } from '../../nsinit/plan.js';
import type { Unprivileged } from '../../rootless.js';
import { NS_PROC_NAME } from '../linux.js';
import type { Mount, Spec } from '../spec.js';
import type { HostFacts, NsFile, UserMaps } from '../host-facts.js';
import { known, type ProcessSpec } from './common.js';
import { PROPAGATION } from './mount-options.js';

/** The container's user namespace: its maps (null when joined by a path whose maps are unknown). */
export interface UserNs { joined?: string; uid: IdMapping[] | null; gid: IdMapping[] | null }

export const inMap = (maps: readonly IdMapping[], id: number) => maps.some((m) => id >= m.containerID && id - m.containerID < m.size);
function toHost(maps: readonly IdMapping[], id: number): number | undefined {
  const m = maps.find((x) => id >= x.containerID && id - x.containerID < x.size);
  return m ? m.hostID + (id - m.containerID) : undefined;
}

/** A host id (as this process sees it) that the maps give an id inside. */
const hostMapped = (maps: readonly IdMapping[], id: number) => maps.some((m) => id >= m.hostID && id - m.hostID < m.size);

/** Two namespace files are the same namespace (both stat(2)ed, same dev and inode). */
function sameNs(host: HostFacts, a: string, b: string): boolean {
  const x: NsFile = known(host.nsFiles, a, 'a namespace file');
  const y: NsFile = known(host.nsFiles, b, 'a namespace file');
  return !('error' in x) && !('error' in y) && x.dev === y.dev && x.ino === y.ino;
}

/**
 * A namespace joined by path that was made in this process's user namespace (so owned by it):
 * one of another process of that user namespace, not inherited from outside it (a rootless
 * podman pod's infra container's, not the pause process's). Other paths are not known to be.
 */
export function madeInOwnUserNs(host: HostFacts, nsPath: string, type: string): boolean {
  const proc = /^\/proc\/(\d+)\/ns\/[a-z_]+$/.exec(nsPath);
  if (!proc) return false;
  return sameNs(host, `/proc/${proc[1]}/ns/user`, '/proc/self/ns/user') && !sameNs(host, nsPath, `/proc/self/ns/${NS_PROC_NAME[type]}`);
}

/** The user namespace this process runs in, as one the container would share (see PlanInput.inUserNs). */
export function ownUserNs(host: HostFacts): UserNs {
  return { uid: host.ownMaps.uid, gid: host.ownMaps.gid };
}

/** Validate linux.uidMappings/gidMappings against the user namespace, and the process's ids against them. */
export function userNamespace(spec: Spec, joinedPath: string | undefined, host: HostFacts): UserNs | null {
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
    const maps: UserMaps | null = proc ? known(host.procMaps, proc[1], 'the user namespace maps') : null;
    ns = { joined: joinedPath, uid: maps ? maps.uid : null, gid: maps ? maps.gid : null };
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

export function checkUserMapped(
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
export function checkReachable(ns: UserNs, target: string, field: string, self: boolean, host: HostFacts): void {
  if (!ns.uid || !ns.gid) return;
  const uid = toHost(ns.uid, 0);
  const gid = toHost(ns.gid, 0);
  if (uid === undefined || gid === undefined) return;
  const real = known(host.realpaths, target, 'the real path');
  if (real === null) return;
  const dirs: string[] = [];
  for (let d = self ? real : path.dirname(real); ; d = path.dirname(d)) {
    dirs.unshift(d);
    if (d === '/') break;
  }
  for (const d of dirs) {
    const st = known(host.stats, d, 'stat');
    if (!st) return;
    if (st.kind !== 'dir') continue;
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
export function becomeRoot(groupsDenied = false): PlanOp[] {
  return [...(groupsDenied ? [] : [{ op: 'setgroups', gids: [] } as PlanOp]), { op: 'setgid', gid: 0 }, { op: 'setuid', uid: 0 }];
}

/**
 * The user namespace of a rootless container. The kernel lets a user write one map line of its
 * own id (and its own gid only once setgroups is denied); anything more goes through
 * newuidmap/newgidmap, which check /etc/subuid and /etc/subgid (runc does the same).
 */
export function unprivilegedUserns(uid: IdMapping[], gid: IdMapping[], u: Unprivileged): Extract<PlanOp, { op: 'userns-rootless' }> {
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

/**
 * A config.json mount as it can be made inside a user namespace: proc, sysfs, mqueue and
 * cgroup file systems need a namespace owned by it (else the host's are bound instead), and
 * devpts cannot be given an unmapped gid.
 */
export function usernsMount(m: Mount, i: number, ns: UserNs, owned: (t: string) => boolean, types: Set<string>, host: HostFacts): Mount {
  const bindHost = (source: string, rec: boolean, why: string): Mount => {
    if (!known(host.stats, source, 'stat')) {
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
