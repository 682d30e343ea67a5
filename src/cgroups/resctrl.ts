// linux.intelRdt: the container's class of service in the resctrl file system (runtime-spec
// config-linux "IntelRdt"). The daemon makes (or checks) the CLOS directory and its schemata
// before the container exists; the container's processes write themselves into its `tasks`
// (a plan op, like a cgroup join); delete removes a directory runa made.
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';

export interface IntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  schemata?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

/** The CLOS directory in use, and whether runa made it (then delete removes it). */
export interface RdtGroup { dir: string; created: boolean }

const F = 'config.json: linux.intelRdt';
const fail = (field: string, msg: string) => new RunaError('invalid_spec', `${F}${field}: ${msg}`);

/** Where resctrl is mounted in the runtime's mount namespace (mountinfo), or null. */
export function resctrlMount(mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): string | null {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || !line.slice(sep + 3).startsWith('resctrl ')) continue;
    return line.slice(0, sep).split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) ?? null;
  }
  return null;
}

/**
 * The schemata runa writes (the spec's rules): with both, l3CacheSchema's non-`MB:` lines and
 * memBwSchema's line; else either one; `schemata` is written after them, last.
 */
export function schemataWrites(r: IntelRdt): string[] {
  const out: string[] = [];
  if (r.l3CacheSchema !== undefined && r.memBwSchema !== undefined) {
    out.push([...r.l3CacheSchema.split('\n').filter((l) => l && !l.startsWith('MB:')), r.memBwSchema].join('\n'));
  } else if (r.l3CacheSchema !== undefined) out.push(r.l3CacheSchema);
  else if (r.memBwSchema !== undefined) out.push(r.memBwSchema);
  if (r.schemata !== undefined) out.push(r.schemata);
  return out;
}

/** The schemata file's lines, normalized for comparison (the kernel pads and orders them). */
const lines = (s: string) => s.split('\n').map((l) => l.replace(/\s+/g, '')).filter(Boolean);

/** Check the config against the spec's rules (no I/O). */
export function checkIntelRdt(r: IntelRdt): void {
  if (r.closID !== undefined && (!r.closID || r.closID.includes('/') || r.closID === '.' || r.closID === '..')) {
    throw fail('.closID', `${JSON.stringify(r.closID)} is not a directory name`);
  }
  if (r.l3CacheSchema !== undefined && r.l3CacheSchema.includes('\n') && r.memBwSchema === undefined) {
    throw fail('.l3CacheSchema', 'must not contain newlines');
  }
  if (r.memBwSchema !== undefined && (!r.memBwSchema.startsWith('MB:') || r.memBwSchema.includes('\n'))) {
    throw fail('.memBwSchema', 'must be one line starting with "MB:"');
  }
}

/**
 * Make (or find) the container's CLOS directory under `mount` and write its schemata, as the
 * spec says: closID absent → `<id>`, made; closID with schemata → made if missing, else its
 * schemata must match; closID alone → a pre-configured directory that must exist.
 */
export function prepareRdt(r: IntelRdt, id: string, mount: string | null = resctrlMount()): RdtGroup {
  checkIntelRdt(r);
  if (!mount) throw fail('', 'intelRdt is specified in config, but Intel RDT is not supported or enabled (no resctrl file system is mounted)');
  const writes = schemataWrites(r);
  if (r.enableCMT || r.enableMBM) {
    const features = (() => { try { return fs.readFileSync(path.join(mount, 'info', 'L3_MON', 'mon_features'), 'utf8'); } catch { return ''; } })();
    if (r.enableCMT && !/\bllc_occupancy\b/.test(features)) throw fail('.enableCMT', 'Intel RDT CMT is not supported by this host (no llc_occupancy in info/L3_MON/mon_features)');
    if (r.enableMBM && !/\bmbm_(total|local)_bytes\b/.test(features)) throw fail('.enableMBM', 'Intel RDT MBM is not supported by this host (no mbm_*_bytes in info/L3_MON/mon_features)');
  }
  const dir = path.join(mount, r.closID ?? id);
  let created = false;
  if (!fs.existsSync(dir)) {
    if (r.closID !== undefined && !writes.length) throw fail('.closID', `the pre-configured class ${JSON.stringify(r.closID)} does not exist (${dir})`);
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      throw fail('', `creating ${dir}: ${(e as Error).message}`);
    }
    created = true;
  } else if (r.closID !== undefined && writes.length) {
    // An existing class is shared: its schemata must be what the config asks, never changed.
    const have = lines(fs.readFileSync(path.join(dir, 'schemata'), 'utf8'));
    for (const want of writes) {
      for (const l of lines(want)) {
        if (!have.includes(l)) throw fail('.closID', `class ${JSON.stringify(r.closID)} exists with other schemata (${have.join('; ')}; wanted ${l})`);
      }
    }
    return { dir, created: false };
  }
  try {
    for (const w of writes) {
      try {
        fs.writeFileSync(path.join(dir, 'schemata'), w + '\n');
      } catch (e) {
        const status = (() => { try { return fs.readFileSync(path.join(mount, 'info', 'last_cmd_status'), 'utf8').trim(); } catch { return ''; } })();
        throw fail('', `writing ${JSON.stringify(w)} to ${path.join(dir, 'schemata')}: ${(e as Error).message}${status ? ` (${status})` : ''}`);
      }
    }
  } catch (e) {
    if (created) removeRdt({ dir, created });
    throw e;
  }
  return { dir, created };
}

/** Remove a CLOS directory runa made (its tasks go back to the default class). */
export function removeRdt(g: RdtGroup | undefined): void {
  if (!g?.created) return;
  try { fs.rmdirSync(g.dir); } catch { /* already gone */ }
}
