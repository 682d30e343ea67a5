// Finding a program as execvp(3) would: the first executable of that name in PATH's directories.
import fs from 'node:fs';
import path from 'node:path';

/** The real path of `name` on `env.PATH` (the system's default path without one), or null. */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir || '.', name);
    try { fs.accessSync(p, fs.constants.X_OK); return fs.realpathSync(p); } catch { /* not here */ }
  }
  return null;
}
