// sun_path holds at most 107 bytes; state dirs under long roots and 64-character ids (podman's)
// make longer socket paths. Those are reached through an fd of their directory instead.
import fs from 'node:fs';
import path from 'node:path';

const SUN_PATH_MAX = 107;

/** A path connect(2) accepts for socket `p`, and what to call once connected (or failed). */
export function connectablePath(p: string): { path: string; release(): void } {
  if (Buffer.byteLength(p) <= SUN_PATH_MAX) return { path: p, release() {} };
  const fd = fs.openSync(path.dirname(p), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  let open = true;
  return {
    path: `/proc/self/fd/${fd}/${path.basename(p)}`,
    release() { if (open) { open = false; fs.closeSync(fd); } },
  };
}
