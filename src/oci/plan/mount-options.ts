// config.json mount options: mount(2) flags, propagation, runc's recursive (mount_setattr)
// options and extensions, and the file-system data left over. Pure.
import { MS } from '../../nsinit/plan.js';
import { IDMAP_OPTIONS } from '../idmap.js';
import type { Mount } from '../spec.js';

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
export const PROPAGATION: Record<string, number> = {
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

/** A bind mount: type `bind`, or a `bind`/`rbind` option. */
export function isBindMount(m: Mount): boolean {
  return m.type === 'bind' || (parseMountOptions(m.options).flags & MS.BIND) !== 0;
}
