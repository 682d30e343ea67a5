// What this host offers, for tests that choose their configs to match (a fresh Debian VM has no
// BFQ scheduler, for one): probed once, each answer a plain fact of /sys or /proc.
import fs from 'node:fs';
import path from 'node:path';
import { detectCgroups } from '../../src/cgroups/index.js';

/** Whether a block I/O weight can be applied: BFQ (or CFQ) on v1, the io controller on v2. */
export function blkioWeightWorks(): boolean {
  try {
    const layout = detectCgroups();
    if (layout.mode === 'v2') {
      return (fs.readFileSync(path.join(layout.v2!, 'cgroup.controllers'), 'utf8')).split(/\s+/).includes('io');
    }
    const blkio = layout.v1.blkio;
    return Boolean(blkio) && ['blkio.bfq.weight', 'blkio.weight'].some((f) => fs.existsSync(path.join(blkio, f)));
  } catch {
    return false;
  }
}
