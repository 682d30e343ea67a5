// Where one cgroup lives in each hierarchy of the host (v1 controllers' mounts, the unified
// one), and making its directories there (cgroup.ts's create).
import fs from 'node:fs';
import path from 'node:path';
import { CgroupError, errnoText, exists, readText, tryWrite } from './common.js';
import { hierarchyDir, parseProcCgroup, type CgroupLayout } from './detect.js';

export interface Hierarchy {
  kind: 'v1' | 'v2';
  /** mount point (with the root prefix) */
  mount: string;
  /** controllers of a v1 hierarchy ("name=systemd" for named ones); [] for v2 */
  controllers: string[];
  /** this cgroup's directory in it */
  dir: string;
}

/** `cgPath` (normalized: absolute, or relative to the runtime's own cgroup) in every hierarchy of `layout`. */
export function locateHierarchies(layout: CgroupLayout, cgPath: string, opts: { root?: string; selfCgroup?: string }): Hierarchy[] {
  let own: Record<string, string> = {};
  if (!cgPath.startsWith('/')) own = parseProcCgroup(opts.selfCgroup ?? fs.readFileSync('/proc/self/cgroup', 'utf8'));
  const root = opts.root ?? '';
  const hierarchies: Hierarchy[] = [];
  if (layout.mode !== 'v2') {
    const byMount = new Map<string, string[]>();
    for (const [ctrl, mount] of Object.entries(layout.v1)) {
      const l = byMount.get(mount) ?? [];
      l.push(ctrl);
      byMount.set(mount, l);
    }
    for (const [mount, controllers] of byMount) {
      const ownPath = controllers.map((c) => own[c]).find((p) => p !== undefined);
      hierarchies.push({
        kind: 'v1', mount: path.join(root || '/', mount), controllers,
        dir: hierarchyDir(mount, layout.mountRoots?.[mount] ?? '/', cgPath, ownPath, root),
      });
    }
  }
  if (layout.v2 !== null && layout.mode !== 'v1') {
    hierarchies.push({
      kind: 'v2', mount: path.join(root || '/', layout.v2), controllers: [],
      // runc's fs2 (pure v2) anchors a relative path at the parent of its own cgroup: "the
      // current user scope most probably has tasks in it already, making it impossible to
      // enable controllers for its sub-cgroup" (a v1 hierarchy, or hybrid's, at its own).
      dir: hierarchyDir(layout.v2, layout.mountRoots?.[layout.v2] ?? '/', cgPath, layout.mode === 'v2' && own[''] !== undefined ? path.posix.dirname(own['']) : own[''], root),
    });
  }
  return hierarchies;
}

/** mkdir every level from `mount` to `dir`, remembering what runa made; a parent removed meanwhile by a concurrent destroy is made again. */
export function mkdirChain(mount: string, dir: string, madeNow: string[], created: Set<string>): void {
  // Usually the parents are there (runa's own /runa): one mkdir, not one per level.
  if (dir !== mount) {
    try {
      fs.mkdirSync(dir, { mode: 0o755 });
      madeNow.push(dir);
      created.add(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw Object.assign(new CgroupError(`cgroups: cannot create ${dir}: ${errnoText(e)}`), { errno: (e as NodeJS.ErrnoException).code });
    }
  }
  if (!exists(mount)) throw new CgroupError(`cgroups: cannot create ${dir}: ${mount} is not mounted`);
  const segs = path.relative(mount, dir).split('/').filter(Boolean);
  for (let attempt = 0; ; attempt++) {
    let cur = mount;
    try {
      for (const seg of segs) {
        cur = path.join(cur, seg);
        try {
          fs.mkdirSync(cur, { mode: 0o755 });
          madeNow.push(cur);
          created.add(cur);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 5) continue;
      throw Object.assign(new CgroupError(`cgroups: cannot create ${cur}: ${errnoText(e)}`), { errno: (e as NodeJS.ErrnoException).code });
    }
  }
}

/**
 * v2: make `controllers` available in this cgroup by enabling them in cgroup.subtree_control
 * of every ancestor below the mount point, where the ancestor has them (runc enables all it
 * can and ignores refusals; a knob still missing afterwards is reported by apply).
 */
export function enableControllers(h: Hierarchy | undefined, controllers: string[]): void {
  if (!h || controllers.length === 0) return;
  const segs = path.relative(h.mount, h.dir).split('/').filter(Boolean);
  let cur = h.mount;
  for (const seg of segs) {
    const avail = (readText(path.join(cur, 'cgroup.controllers')) ?? '').split(/\s+/);
    const enabled = (readText(path.join(cur, 'cgroup.subtree_control')) ?? '').split(/\s+/);
    const missing = controllers.filter((c) => avail.includes(c) && !enabled.includes(c));
    const file = path.join(cur, 'cgroup.subtree_control');
    if (missing.length > 0 && tryWrite(file, missing.map((c) => `+${c}`).join(' '))) {
      for (const c of missing) tryWrite(file, `+${c}`);
    }
    cur = path.join(cur, seg);
  }
}
