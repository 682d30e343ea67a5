// Where things live. Kept dependency-free: every CLI command imports it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (this file is dist/src/paths.js once built). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const nsinitPath = path.join(packageRoot, 'native', 'nsinit');
/** Loads and attaches cgroup v2 device programs (native/cgroup-bpf.c). */
export const cgroupBpfPath = path.join(packageRoot, 'native', 'cgroup-bpf');
/** Holds the daemon's one-per-root lock (native/runa-lock.c). */
export const lockHolderPath = path.join(packageRoot, 'native', 'runa-lock');
export const lockFile = (root: string) => path.join(root, 'daemon.lock');
export const cliEntry = path.join(packageRoot, 'bin', 'runa.js');
/** `runa daemon` from its one-file bundle and code cache (what the CLI and the front end start). */
export const daemonEntry = path.join(packageRoot, 'bin', 'runa-daemon.cjs');

export const socketPath = (root: string) => path.join(root, 'runa.sock');
export const containerDir = (root: string, id: string) => path.join(root, id);
export const stateFile = (dir: string) => path.join(dir, 'state.json');
export const exitFile = (dir: string) => path.join(dir, 'exit');
export const planFile = (dir: string) => path.join(dir, 'plan');
/** --strace: the plan of the monitor's tracer (a container's is kept for the processes exec'd into it) */
export const stracePlanFile = (dir: string) => path.join(dir, 'strace.plan');
export const monitorSocket = (dir: string) => path.join(dir, 'monitor.sock');
