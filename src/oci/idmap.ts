// Idmapped mounts (runtime-spec 1.2 `uidMappings`/`gidMappings` on a mount; runc 1.2's `idmap`
// and `ridmap` options): a bind mount whose files' owners are seen through a user namespace's
// maps. nsinit clones the source (`hold`, open_tree), makes a user namespace with the maps
// (`idmap-userns`) and sets MOUNT_ATTR_IDMAP on the detached clone (`hold-idmap`) while still
// host root, before it is attached in the container.
import { RunaError } from '../errors.js';
import { idMap, type IdMapping, type PlanOp } from '../nsinit/plan.js';
import type { Mount } from './spec.js';

export interface MountIdmap {
  uid: readonly IdMapping[];
  gid: readonly IdMapping[];
  /** ridmap: every mount of the (rbind) tree, not only its top */
  recursive: boolean;
}

/** The mount options that ask for an idmapped mount (not kernel data). */
export const IDMAP_OPTIONS = ['idmap', 'ridmap'];

const U32 = 2 ** 32;

/** Ranges the kernel takes: none past 2^32, none overlapping another (inside or outside), at most 340 lines. */
export function checkMappings(maps: readonly IdMapping[], field: string): void {
  if (maps.length > 340) throw new RunaError('invalid_spec', `${field}: more than 340 mappings`);
  maps.forEach((m, i) => {
    if (m.containerID + m.size > U32) throw new RunaError('invalid_spec', `${field}.${i}: containerID ${m.containerID} + size ${m.size} overflows 2^32`);
    if (m.hostID + m.size > U32) throw new RunaError('invalid_spec', `${field}.${i}: hostID ${m.hostID} + size ${m.size} overflows 2^32`);
    for (let j = 0; j < i; j++) {
      const o = maps[j];
      const overlap = (a: number, b: number) => a < b + o.size && b < a + m.size;
      if (overlap(m.containerID, o.containerID)) throw new RunaError('invalid_spec', `${field}.${i}: container ids ${m.containerID}+${m.size} overlap mapping ${j}`);
      if (overlap(m.hostID, o.hostID)) throw new RunaError('invalid_spec', `${field}.${i}: host ids ${m.hostID}+${m.size} overlap mapping ${j}`);
    }
  });
}

/**
 * What idmapping mount `i` asks for, checked with runc's rules (in its words), or null. The
 * mappings are the mount's own, or (idmap/ridmap without any) the container's user
 * namespace's; `containerMaps` null with a user namespace means one joined by a path whose
 * maps are unknown.
 */
export function mountIdmap(m: Mount, i: number, c: {
  isBind: boolean; userns: boolean; containerMaps: { uid: IdMapping[] | null; gid: IdMapping[] | null } | null; unprivileged: boolean;
}): MountIdmap | null {
  const opts = m.options ?? [];
  const option = opts.includes('ridmap') ? 'ridmap' : opts.includes('idmap') ? 'idmap' : null;
  if (!option && m.uidMappings === undefined && m.gidMappings === undefined) return null;
  const field = `config.json: mounts.${i}`;
  if (!c.isBind) throw new RunaError('invalid_spec', `${field}: id-mapped mounts are only supported for bind-mounts`);
  if (c.unprivileged) throw new RunaError('invalid_spec', `${field}: id-mapped mounts are not supported for rootless containers`);
  let uid: readonly IdMapping[] | undefined = m.uidMappings;
  let gid: readonly IdMapping[] | undefined = m.gidMappings;
  if (uid === undefined && gid === undefined && c.userns) {
    if (!c.containerMaps?.uid || !c.containerMaps.gid) {
      throw new RunaError('invalid_spec', `${field}: ${option}: the user namespace joined by path has maps runa cannot read: give the mount its own uidMappings and gidMappings`);
    }
    uid = c.containerMaps.uid;
    gid = c.containerMaps.gid;
  }
  if (!uid?.length || !gid?.length) throw new RunaError('invalid_spec', `${field}: id-mapped mounts must have both uid and gid mappings specified`);
  if (!m.source?.startsWith('/')) throw new RunaError('invalid_spec', `${field}: id-mapped mounts need an absolute source`);
  checkMappings(uid, `${field}.uidMappings`);
  checkMappings(gid, `${field}.gidMappings`);
  return { uid, gid, recursive: option === 'ridmap' };
}

/**
 * The ops that make the held mounts idmapped: one `idmap-userns` per distinct pair of maps,
 * then `hold-idmap` for each (by its `hold` index).
 */
export function idmapOps(mounts: Array<{ held: number; idmap: MountIdmap }>): PlanOp[] {
  const made = new Map<string, number>();
  const ns: PlanOp[] = [];
  const set: PlanOp[] = [];
  for (const { held, idmap } of mounts) {
    const uidMap = idMap(idmap.uid);
    const gidMap = idMap(idmap.gid);
    const key = `${uidMap}|${gidMap}`;
    if (!made.has(key)) {
      made.set(key, made.size);
      ns.push({ op: 'idmap-userns', uidMap, gidMap });
    }
    set.push({ op: 'hold-idmap', index: held, userns: made.get(key)!, recursive: idmap.recursive });
  }
  return [...ns, ...set];
}
