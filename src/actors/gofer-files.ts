// The gofer's file operations on a container's filesystem (src/actors/gofer-actor.ts): `root`
// is the container's root as the host sees it (`/proc/<init>/root` while it lives: its mounts
// and overlay included, else the bundle's rootfs); the path is resolved inside it, symlinks
// included, and never leads out. Whether an operation is served now or held is the gofer
// machine's answer, not this module's.
import fs from 'node:fs';
import { RunaError } from '../errors.js';
import { secureJoin } from './gofer.js';
import { FILE_MAX, type FileRequest } from './actor-bus.js';

/** What a file operation answers (FileReply). */
export type FileAnswer =
  | { type: 'file' | 'directory' | 'symlink' | 'other'; size: number; mode: number; uid: number; gid: number }
  | { data: string }
  | { written: number };

const where = (id: string, req: FileRequest) => `${req.op} ${req.path} in container ${JSON.stringify(id)}`;

/** Serve one file operation now (a write's data is checked before it is held or done: `checkWrite`). */
export function serveFile(id: string, req: FileRequest, root: string): FileAnswer {
  const target = secureJoin(root, req.path);
  const fail = (e: unknown): never => { throw new RunaError('file_failed', `${where(id, req)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); };
  if (req.op === 'stat') {
    let st: fs.Stats;
    try { st = fs.lstatSync(target); } catch (e) { return fail(e); }
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
    return { type, size: st.size, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  }
  if (req.op === 'read') {
    let fd: number;
    try { fd = fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); } catch (e) { return fail(e); }
    try {
      if (!fs.fstatSync(fd).isFile()) throw new RunaError('file_failed', `${where(id, req)}: not a regular file`);
      const buf = Buffer.alloc(FILE_MAX + 1);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      if (n > FILE_MAX) throw new RunaError('file_failed', `${where(id, req)}: larger than ${FILE_MAX} bytes`);
      return { data: buf.subarray(0, n).toString('base64') };
    } finally { fs.closeSync(fd); }
  }
  const data = checkWrite(id, req);
  let fd: number;
  try { fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, req.mode ?? 0o644); } catch (e) { return fail(e); }
  try { fs.writeSync(fd, data); } finally { fs.closeSync(fd); }
  return { written: data.length };
}

/** A write's data, refused at once if it is too large (before it is held). */
export function checkWrite(id: string, req: Extract<FileRequest, { op: 'write' }>): Buffer {
  const data = Buffer.from(req.data, 'base64');
  if (data.length > FILE_MAX) throw new RunaError('file_failed', `${where(id, req)}: larger than ${FILE_MAX} bytes`);
  return data;
}

/** A write held while the container was frozen whose root went before it was thawed. */
export function heldWriteLost(id: string, req: FileRequest): RunaError {
  return new RunaError('file_failed', `${where(id, req)}: the container stopped before it was thawed`);
}
