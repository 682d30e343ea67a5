// What a container has on the host that its actor reads again and again: the config.json its
// create kept in the state dir, and its cgroup; each opened once, on first use.
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';
import { parseSpecText, type Spec } from '../oci/spec.js';
import { Cgroup } from '../cgroups/index.js';
import { hostCgroups } from '../cgroups/host.js';
import type { ContainerRecord } from './container-record.js';

export class ContainerFiles {
  private cg: Cgroup | null = null;

  constructor(private readonly record: ContainerRecord, private specCache: Spec | null = null) {}

  /** The container's cgroup (null for containers without one). */
  cgroup(): Cgroup | null {
    if (!this.cg && this.record.cgroup) {
      const { path: cgPath, createdDirs, usedDirs } = this.record.cgroup;
      this.cg = Cgroup.open(hostCgroups().layout, cgPath, { createdDirs, ...(usedDirs ? { usedDirs } : {}) });
    }
    return this.cg;
  }

  /** `why`: the refusal when there is none (a rootless container without delegation has none). */
  requireCgroup(why = `container ${JSON.stringify(this.record.id)} has no cgroup`): Cgroup {
    const cg = this.cgroup();
    if (!cg) throw new RunaError('no_cgroup', why);
    return cg;
  }

  /**
   * Whether the config has hooks of this kind. None is the usual case: then no hook runs (and
   * no OCI state is built for them).
   */
  hasHooks(kind: string): boolean {
    const hooks = (this.spec().hooks as Record<string, unknown> | undefined)?.[kind];
    return Array.isArray(hooks) && hooks.length > 0;
  }

  /** The config.json this container was created with (kept in its state dir). */
  spec(): Spec {
    this.specCache ??= parseSpecText(fs.readFileSync(path.join(this.record.stateDir, 'config.json'), 'utf8')) as Spec;
    return this.specCache;
  }

  /** The config after an update (the file is rewritten by whoever changed it). */
  setSpec(spec: Spec): void { this.specCache = spec; }
}
