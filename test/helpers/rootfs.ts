// Builds a tiny root filesystem for tests from the host's own binaries and their shared libraries.
import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const DEFAULT_BINARIES = [
  'sh', 'cat', 'ls', 'sleep', 'true', 'false', 'echo', 'id', 'hostname', 'readlink', 'env',
  'mkdir', 'touch', 'kill', 'ps', 'grep', 'stat', 'wc', 'head', 'rm', 'ln', 'uname',
];
const OPTIONAL = new Set(['ps', 'stat', 'wc', 'head', 'rm', 'ln', 'uname']);
const SEARCH = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'];

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findBinary(name: string): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : undefined;
  for (const dir of SEARCH) {
    const p = path.join(dir, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

/** Absolute paths of the shared libraries (and loader) a binary needs, per ldd. */
async function sharedLibraries(binary: string): Promise<string[]> {
  let out: string;
  try {
    out = (await run('ldd', [binary])).stdout;
  } catch {
    return []; // "not a dynamic executable": static binaries need nothing
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** Copy a host file to the same absolute path under root (following symlinks), keeping its mode. */
async function copyInto(root: string, hostPath: string, destPath = hostPath): Promise<void> {
  const dest = path.join(root, destPath);
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.copyFile(hostPath, dest);
  const st = await fs.stat(hostPath);
  await fs.chmod(dest, st.mode & 0o7777);
}

/**
 * Build a minimal root filesystem in `dir`: host binaries in /bin (with /usr/bin and /sbin
 * pointing there), their libraries at their host paths, and the usual empty directories.
 */
export async function makeRootfs(dir: string, extraBinaries: string[] = []): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const d of ['bin', 'usr', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root', 'var', 'run']) {
    await fs.mkdir(path.join(dir, d), { recursive: true });
  }
  await fs.chmod(path.join(dir, 'tmp'), 0o1777);
  await fs.symlink('../bin', path.join(dir, 'usr', 'bin'));
  await fs.symlink('bin', path.join(dir, 'sbin'));

  const libs = new Set<string>();
  for (const name of [...DEFAULT_BINARIES, ...extraBinaries]) {
    const host = await findBinary(name);
    if (!host) {
      if (OPTIONAL.has(name)) continue;
      throw new Error(`makeRootfs: binary "${name}" not found on the host`);
    }
    await copyInto(dir, host, path.join('/bin', path.basename(name)));
    for (const lib of await sharedLibraries(host)) libs.add(lib);
  }
  for (const lib of libs) {
    // Keep the path ldd printed (the loader path is baked into every binary).
    await copyInto(dir, lib);
  }

  await fs.writeFile(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await fs.writeFile(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  await fs.writeFile(path.join(dir, 'etc', 'hostname'), 'runa\n');
}
