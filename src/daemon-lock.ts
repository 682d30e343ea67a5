// Whether a daemon holds a root's lock (a flock on <root>/daemon.lock, src/daemon/daemon.ts),
// told from /proc/locks: a probing flock of our own could make a starting daemon believe
// another one holds it. The front end (native/daemon-start.c lock_held) reads it the same way.
import fs from 'node:fs';
import path from 'node:path';

export function daemonLockHeld(root: string): boolean {
  let st: fs.Stats;
  try { st = fs.statSync(path.join(root, 'daemon.lock')); } catch { return false; }
  const major = Math.floor(st.dev / 256) & 0xfff;
  const minor = (st.dev & 0xff) | ((Math.floor(st.dev / 4096) & 0xfff00));
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  const id = ` ${hex(major)}:${hex(minor)}:${st.ino} `;
  let text: string;
  try { text = fs.readFileSync('/proc/locks', 'utf8'); } catch { return true; } // cannot tell: assume it is
  return text.split('\n').some((l) => l.includes('FLOCK') && l.includes('WRITE') && l.includes(id));
}
