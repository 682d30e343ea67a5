// One container's cgroup across every hierarchy of the host: create, apply/update resources,
// join, freeze/thaw, inspect, destroy. Driver-agnostic; v1.ts and v2.ts hold the knobs,
// hierarchy.ts where the cgroup is in each hierarchy, teardown.ts its removal.
import fs from 'node:fs';
import path from 'node:path';
import { CgroupError, errnoText, exists, parsePids, readText, subtreeDeepestFirst, tryWrite } from './common.js';
import { resolvePath, type CgroupLayout, type CgroupMode } from './detect.js';
import { enableControllers, locateHierarchies, mkdirChain, type Hierarchy } from './hierarchy.js';
import { DESTROY_WAIT_MS, removeParents, rmdirRetry } from './teardown.js';
import type { ApplyResult, CgroupStats, LinuxResources } from './types.js';
import * as v1 from './v1.js';
import { oomCountV1, statsV1 } from './v1-stats.js';
import * as v2 from './v2.js';

export interface CgroupOptions {
  /** Prefix for every mount point: tests point it at a temp dir laid out like cgroupfs. */
  root?: string;
  /** /proc/self/cgroup text used to anchor relative paths (default: read it). */
  selfCgroup?: string;
  /** Directories runa created for this cgroup earlier (persist `createdDirs` to destroy after a restart). */
  createdDirs?: string[];
  /**
   * runc's rootless cgroup manager: a hierarchy where the cgroup cannot be made for want of
   * permission (EACCES, EPERM, EROFS: no delegation) is left out instead of failing create;
   * device rules that cannot be written are ignored.
   */
  rootless?: boolean;
  /** The directories in use when not every hierarchy is (`usedDirs` of a rootless create); persisted with createdDirs. */
  usedDirs?: string[];
}

export type FreezerState = 'FROZEN' | 'THAWED' | 'FREEZING';

export class Cgroup {
  private readonly created: Set<string>;
  /** Hierarchies left out by a rootless create, with why (see CgroupOptions.rootless). */
  private readonly left: Array<{ h: Hierarchy; why: string }> = [];

  private constructor(
    readonly layout: CgroupLayout,
    /** the normalized cgroup path (absolute, or relative to the runtime's own cgroup) */
    readonly path: string,
    private hierarchies: Hierarchy[],
    private readonly opts: CgroupOptions,
  ) {
    this.created = new Set(opts.createdDirs ?? []);
    if (opts.usedDirs) this.hierarchies = hierarchies.filter((h) => opts.usedDirs!.includes(h.dir));
  }

  /** Locate (not create) `cgroupPath` in every hierarchy of `layout`. */
  static open(layout: CgroupLayout, cgroupPath: string, opts: CgroupOptions = {}): Cgroup {
    const cgPath = resolvePath(cgroupPath, '');
    const hierarchies = locateHierarchies(layout, cgPath, opts);
    if (hierarchies.length === 0) throw new CgroupError('cgroups: no cgroup hierarchy to use');
    return new Cgroup(layout, cgPath, hierarchies, opts);
  }

  get mode(): CgroupMode { return this.layout.mode; }

  /** This cgroup's directory per v1 controller, and the unified one. */
  get dirs(): { v1: Record<string, string>; v2: string | null } {
    const out: Record<string, string> = {};
    for (const h of this.hierarchies) if (h.kind === 'v1') for (const c of h.controllers) out[c] = h.dir;
    return { v1: out, v2: this.hierarchies.find((h) => h.kind === 'v2')?.dir ?? null };
  }

  /** The cgroup's directory in each hierarchy in use, when a rootless create left some out (persist it); else undefined. */
  get usedDirs(): string[] | undefined { return this.left.length || this.opts.usedDirs ? this.hierarchies.map((h) => h.dir) : undefined; }

  /** No hierarchy is in use: a rootless create could make the cgroup nowhere. */
  get unused(): boolean { return this.hierarchies.length === 0; }

  /** Every directory runa made (leaves and parents), to persist for a later destroy. */
  get createdDirs(): string[] { return [...this.created]; }

  /** Whether runa created this cgroup (a pre-existing one is joined and left in place). */
  get owned(): boolean { return this.hierarchies.some((h) => this.created.has(h.dir)); }

  /** Whether the cgroup existed before runa in any hierarchy (only then can it hold processes or be frozen at create). */
  /** The cgroup's directory in every hierarchy. */
  leafDirs(): string[] { return this.hierarchies.map((h) => h.dir); }

  get preExisting(): boolean { return this.hierarchies.some((h) => !this.created.has(h.dir)); }

  private get unified(): string | null {
    return this.layout.mode === 'v2' ? this.hierarchies.find((h) => h.kind === 'v2')?.dir ?? null : null;
  }

  private dirOf = (controller: string): string | undefined =>
    this.hierarchies.find((h) => h.kind === 'v1' && h.controllers.includes(controller))?.dir;

  exists(): boolean {
    return this.hierarchies.every((h) => exists(h.dir));
  }

  /**
   * mkdir -p in every hierarchy. `created` is whether runa made the cgroup (in any hierarchy);
   * else it pre-existed and is only joined. On v2 (pure), `resources` lets it enable the
   * controllers they need in the parents' cgroup.subtree_control now (apply does it anyway).
   */
  create(resources?: LinuxResources): { created: boolean } {
    if (resources) this.check(resources);
    const madeNow: string[] = [];
    try {
      for (const h of [...this.hierarchies]) {
        try {
          mkdirChain(h.mount, h.dir, madeNow, this.created);
        } catch (e) {
          // runc (fs.go Apply): rootless, a permission error leaves this hierarchy out.
          const code = (e as CgroupError & { errno?: string }).errno;
          if (!this.opts.rootless || !(code === 'EACCES' || code === 'EPERM' || code === 'EROFS')) throw e;
          this.hierarchies = this.hierarchies.filter((x) => x !== h);
          this.left.push({ h, why: (e as Error).message });
          continue;
        }
        if (h.kind === 'v1' && h.controllers.includes('cpuset')) v1.initCpuset(h.mount, h.dir);
      }
      if (resources && this.unified) enableControllers(this.hierarchies.find((x) => x.kind === 'v2'), v2.neededControllers(resources));
    } catch (e) {
      for (const d of madeNow.reverse()) {
        try { fs.rmdirSync(d); } catch { /* leave it */ }
        this.created.delete(d);
      }
      throw e;
    }
    return { created: this.owned };
  }

  /**
   * What no cgroup of this host can take, refused before anything is made (runc finds these
   * out after making the cgroup, and removes it): unified keys without a cgroup v2 host, and
   * on v2 a controller the hierarchy's root does not have.
   */
  check(resources: LinuxResources): void {
    if (this.layout.mode !== 'v2') {
      if (resources.unified && Object.keys(resources.unified).length > 0) throw v1.noUnified();
      return;
    }
    const h = this.hierarchies.find((x) => x.kind === 'v2');
    if (h) v2.checkAvailable(h.mount, resources);
    const c = resources.cpu;
    if (c?.realtimeRuntime || c?.realtimePeriod) throw v2.noRealtime(c.realtimeRuntime ? 'realtimeRuntime' : 'realtimePeriod');
  }

  /** Apply `linux.resources`. Throws on the first setting the host cannot apply; returns what was ignored. */
  apply(resources: LinuxResources): ApplyResult {
    this.check(resources); // an update too: refused before its first write
    const warnings: string[] = [];
    let r = resources;
    if (this.opts.rootless && r.devices !== undefined) {
      // runc ignores the device rules' errors when rootless: they are not expected to work.
      const { devices, ...rest } = r;
      if (!this.left.some(({ h }) => h.kind === 'v1' && h.controllers.includes('devices'))) {
        try { this.apply({ devices }); } catch { /* ignored, as runc does */ }
      }
      r = rest;
    }
    const u = this.unified;
    if (u) {
      enableControllers(this.hierarchies.find((x) => x.kind === 'v2'), v2.neededControllers(r));
      v2.applyV2(u, r, warnings);
    } else if (this.layout.mode === 'v2' && this.left.length) {
      const [first] = v2.neededControllers(r);
      if (first) throw couldNotJoin(first, this.left[0].why);
    } else {
      // A controller whose hierarchy a rootless create left out: runc's words for a limit on it.
      const dirOf = (c: string) => {
        const out = this.left.find(({ h }) => h.kind === 'v1' && h.controllers.includes(c));
        if (out) throw couldNotJoin(c, out.why);
        return this.dirOf(c);
      };
      v1.applyV1(dirOf, r, warnings);
    }
    return { warnings };
  }

  /** `runc update`: the same writes on a live cgroup (see devicesV1 for the v1 device-rule caveat). */
  update(resources: LinuxResources): ApplyResult {
    return this.apply(resources);
  }

  /** Move `pid` (the whole process) into this cgroup in every hierarchy. */
  join(pid: number): void {
    for (const h of this.hierarchies) {
      const file = path.join(h.dir, 'cgroup.procs');
      const err = tryWrite(file, String(pid));
      if (err) throw new CgroupError(`cgroups: cannot add pid ${pid} to ${file}: ${errnoText(err)}`);
    }
  }

  async freeze(): Promise<void> {
    const u = this.unified;
    if (u) return v2.freezeV2(u);
    const dir = this.layout.mode === 'v2' ? undefined : this.dirOf('freezer');
    // A rootless create that could not make the freezer's cgroup: runc's words.
    if (!dir && (this.left.length || this.opts.usedDirs)) throw new CgroupError(CANNOT_FREEZE);
    if (!dir) throw new CgroupError('cgroups: cannot freeze: the freezer cgroup controller is not mounted');
    return v1.freezeV1(dir);
  }

  async thaw(): Promise<void> {
    const u = this.unified;
    if (u) return v2.thawV2(u);
    const dir = this.dirOf('freezer');
    if (dir) await v1.thawV1(dir);
  }

  /**
   * Whether an enclosing cgroup is frozen (a pod member's, while its sandbox is paused): then
   * nothing in this one can run, or die, until that one is thawed.
   */
  frozenByAncestor(): boolean {
    const u = this.unified;
    if (u) return v2.frozenEvent(path.dirname(u)) === '1';
    const dir = this.dirOf('freezer');
    return dir !== undefined && readText(path.join(dir, 'freezer.parent_freezing'))?.trim() === '1';
  }

  /** FROZEN/THAWED/FREEZING, or null when there is no freezer. */
  freezerState(): FreezerState | null {
    const u = this.unified;
    return u ? v2.freezerStateV2(u) : v1.freezerStateV1(this.dirOf('freezer'));
  }

  /**
   * Every process in the cgroup or a descendant, in any hierarchy, ascending; `ownedOnly`: only
   * in the hierarchies where runa made the cgroup (a pre-existing one may hold others' processes).
   */
  pids(ownedOnly = false): number[] {
    const set = new Set<number>();
    const hs = (this.unified ? this.hierarchies.filter((h) => h.kind === 'v2') : this.hierarchies)
      .filter((h) => !ownedOnly || this.created.has(h.dir));
    for (const h of hs) {
      for (const d of subtreeDeepestFirst(h.dir)) for (const p of parsePids(readText(path.join(d, 'cgroup.procs')))) set.add(p);
    }
    return [...set].sort((a, b) => a - b);
  }

  /**
   * SIGKILL every process in the cgroup and its descendants at once by writing 1 to
   * cgroup.kill (cgroup v2, kernel ≥ 5.14), as runc's signalAllProcesses does for SIGKILL: no
   * process can fork away from it. Only in a cgroup runa made (a pre-existing one may hold
   * others' processes). False when it cannot (v1, an older kernel, not runa's): the caller
   * signals the processes one by one.
   */
  kill(): boolean {
    const u = this.unified;
    if (!u || !this.created.has(u)) return false;
    const err = tryWrite(path.join(u, 'cgroup.kill'), '1');
    if (!err) return true;
    if (err.code === 'ENOENT') return false;
    throw new CgroupError(`cgroups: cannot kill the processes of ${u}: writing "1" to ${path.join(u, 'cgroup.kill')}: ${errnoText(err)}`);
  }

  /** runc `events --stats` data (types.Stats) from whatever files exist. */
  stats(): CgroupStats {
    const u = this.unified;
    return u ? v2.statsV2(u) : statsV1(this.dirOf);
  }

  /** OOM kills so far (v1 memory.oom_control oom_kill, v2 memory.events oom_kill); 0 when unknown. */
  oomCount(): number {
    const u = this.unified;
    return u ? v2.oomCountV2(u) : oomCountV1(this.dirOf);
  }

  /**
   * If runa created the cgroup: wait for it to empty (kills nothing: the caller has killed the
   * processes), rmdir it and any child cgroups (deepest first) in every hierarchy, retrying EBUSY
   * for up to 2s in all, then the parents runa created if they are empty. A pre-existing cgroup is left.
   */
  async destroy(): Promise<void> {
    const failures: string[] = [];
    const deadline = Date.now() + DESTROY_WAIT_MS; // for the whole cgroup, not per hierarchy
    for (const h of this.hierarchies) {
      if (!this.created.has(h.dir)) continue;
      for (const d of subtreeDeepestFirst(h.dir)) {
        const err = await rmdirRetry(d, deadline);
        if (err) {
          const left = parsePids(readText(path.join(d, 'cgroup.procs')));
          failures.push(`${d}: ${errnoText(err)}${left.length ? ` (still has processes ${left.join(' ')})` : ''}`);
        } else {
          this.created.delete(d);
        }
      }
    }
    removeParents(this.created, this.hierarchies);
    if (failures.length) throw new CgroupError(`cgroups: cannot remove ${failures.join('; ')}`);
  }

  /**
   * The usual end, as destroy() but without looking inside: rmdir every hierarchy's cgroup
   * runa made, which the kernel refuses (EBUSY) while one holds a process or a child cgroup.
   * False at the first refusal: what is left is destroy()'s (those removed count as gone).
   */
  removeIfEmpty(): boolean {
    for (const h of this.hierarchies) {
      if (!this.created.has(h.dir)) continue;
      try {
        fs.rmdirSync(h.dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return false;
      }
      this.created.delete(h.dir);
    }
    removeParents(this.created, this.hierarchies);
    return true;
  }
}

/** runc's refusal to pause a container without a freezer cgroup (rootless, no delegation). */
export const CANNOT_FREEZE = 'cannot toggle freezer: cgroups not configured for container';

/** runc's refusal of a limit on a controller whose cgroup a rootless create could not make. */
function couldNotJoin(controller: string, why: string): CgroupError {
  return new CgroupError(`cannot set ${controller} limit: container could not join or create cgroup (rootless: ${why.replace(/^cgroups: /, '')})`);
}

