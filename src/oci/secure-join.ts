// Resolving a path of the container's inside its root on the host, symlinks included.
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';

const MAX_SYMLINKS = 255;

/**
 * Resolve `unsafe` (an absolute path as seen inside the container) against `root`,
 * following symlinks as if `root` were `/`. Missing components are appended lexically.
 * The result is always `root` or below it.
 */
export function secureJoin(root: string, unsafe: string): string {
  let pending = unsafe.split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') { resolved.pop(); continue; }
    const candidate = path.join(root, ...resolved, part);
    let st: fs.Stats | undefined;
    try { st = fs.lstatSync(candidate); } catch { st = undefined; }
    if (st?.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new RunaError('symlink_loop', `resolving ${unsafe} in the rootfs: too many levels of symbolic links`);
      const target = fs.readlinkSync(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...target.split('/').filter(Boolean), ...pending];
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}
