// The daemon: one per state root. It holds the actor system (registry of containers),
// serves the bus on <root>/runa.sock, and leaves when idle.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { RunaError } from '../errors.js';
import { killPoint } from '../faults.js';
import { Bus } from '../bus/bus.js';
import { serveSocket, type SocketServer } from '../bus/socket-server.js';
import { Registry } from '../actors/registry.js';
import { lockFile, lockHolderPath, socketPath } from '../paths.js';
import { rootEntries } from '../state.js';

/** How often the daemon checks that its socket is still its own. */
const SOCKET_CHECK_MS = 500;
import { serveCli } from './front-end.js';
import { saveCodeCache } from '../code-cache.js';
import { recoverDoNetworks } from '../do-net-records.js';

import type { DaemonOptions } from '../cli/context.js';

export type { DaemonOptions };

/**
 * One daemon per root, whatever the namespaces of the CLIs that start it: a flock on
 * <root>/daemon.lock, which every network, mount and user namespace that sees the root shares,
 * held for this daemon's life by native/runa-lock (it dies with us: PDEATHSIG). The root's
 * owner alone can open it (the root is 0700; a lock file of another user, a symlink or a FIFO
 * is refused), so nobody else can keep this root's daemon from starting.
 * Resolves true when we hold it, false when another daemon does.
 */
async function takeLock(root: string): Promise<boolean> {
  // argv0 says whose it is in ps: the daemon's part.
  const holder = spawn(lockHolderPath, [lockFile(root)], { stdio: ['pipe', 'pipe', 'pipe'], argv0: 'runa daemon lock' });
  let out = '';
  let err = '';
  holder.stdout!.on('data', (d) => { out += d; });
  holder.stderr!.on('data', (d) => { err += d; });
  const answer = await new Promise<string>((resolve) => {
    holder.on('error', (e) => resolve(`error ${e.message}`));
    holder.stdout!.on('data', () => { if (out.includes('\n')) resolve(out.trim()); });
    holder.on('exit', () => resolve(out.trim() || `error ${err.trim() || 'runa-lock exited'}`));
  });
  if (answer === 'locked') {
    // Held while it lives; it must not keep our event loop alive (the daemon leaves when idle).
    holder.unref();
    for (const s of [holder.stdin, holder.stdout, holder.stderr]) (s as unknown as { unref?: () => void })?.unref?.();
    return true;
  }
  if (answer === 'busy') return false;
  throw new RunaError('daemon_lock', `runa daemon: cannot take the lock of ${root}: ${answer.replace(/^error /, '').replace(/^runa-lock: /, '')}`);
}

/** Close the starting pipe the front end gave us (RUNA_DAEMON_STARTING_FD): nothing we start inherits it. */
function startingDone(): void {
  const fd = Number(process.env.RUNA_DAEMON_STARTING_FD);
  delete process.env.RUNA_DAEMON_STARTING_FD;
  if (Number.isInteger(fd) && fd > 2) { try { fs.closeSync(fd); } catch { /* not ours, or closed */ } }
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  fs.mkdirSync(opts.root, { recursive: true, mode: 0o700 });
  const root = fs.realpathSync(opts.root);
  const owned = await takeLock(root);
  // The front end that started us waits while we are on our way to the lock, however slow
  // (native/daemon-start.c): past it now, one way or the other.
  startingDone();
  if (!owned) return 0; // another daemon owns this root
  killPoint('daemon:locked');

  const bus = new Bus();
  let server: SocketServer | null = null;
  let idleTimer: NodeJS.Timeout | null = null;
  let closing = false;
  let served = false; // a container was here: the code cache would hold what serving needs

  const shutdown = async () => {
    if (closing) return;
    closing = true;
    if (idleTimer) clearTimeout(idleTimer);
    if (served) saveCodeCache();
    await server?.close();
    try { fs.unlinkSync(path.join(root, 'daemon.pid')); } catch { /* gone */ }
    // Containers keep running: their monitors hold the truth until a daemon comes back.
    setImmediate(() => process.exit(0));
  };

  const onChange = () => {
    if (closing) return;
    const idle = registry.size === 0 && (server?.clients() ?? 0) === 0;
    served ||= registry.size > 0;
    // The next daemon of this root starts with what this one compiled to serve (bin/runa-daemon.cjs).
    if (idle && served) saveCodeCache();
    if (opts.idleMs === null) return;
    if (idle && !idleTimer) idleTimer = setTimeout(() => void shutdown(), opts.idleMs);
    if (!idle && idleTimer) { clearTimeout(idleTimer); idleTimer = null; }
  };

  const registry = new Registry(root, bus, onChange);
  bus.handle('daemon.ping', (req) => ({ ...(req.gc ? collectGarbage() : {}), pid: process.pid, containers: registry.size, ...registry.counts(), pausedPeers: server?.paused() ?? 0, clients: server?.clients() ?? 0, refusedPeers: server?.refused() ?? 0, memory: memoryKb() }));
  bus.handle('daemon.shutdown', () => { setImmediate(() => void shutdown()); return {}; });
  bus.handle('daemon.profile', async (req) => (await import('./profile.js')).profile(req.kind, req.file, req.ms));
  serveCli(bus, root);

  // The root, listed once: its containers to adopt, and the records of `runa do` networks whose
  // daemon died under them (their containers went with its front ends).
  const entries = rootEntries(root);
  await registry.adopt(entries);
  await recoverDoNetworks(root, entries.map((e) => e.name), (id) => bus.request({ type: 'container.delete', id, force: true }));
  const heartbeatMs = Number(process.env.RUNA_HEARTBEAT_MS) || undefined;
  server = await serveSocket(bus, socketPath(root), { onClients: onChange, heartbeatMs });
  killPoint('daemon:listening');
  fs.writeFileSync(path.join(root, 'daemon.pid'), String(process.pid));
  // A socket removed or replaced under us means clients can no longer reach us: leave at once
  // (the containers go on; the next command's daemon adopts them).
  const watch = setInterval(() => { if (!closing && !server!.owns()) { clearInterval(watch); void shutdown(); } }, SOCKET_CHECK_MS);
  watch.unref();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void shutdown());
  process.on('SIGPIPE', () => {});
  onChange();
  await new Promise<never>(() => {});
  return 0;
}

/** The daemon's memory in kB (its RSS, and V8's heap as it stands: no collection forced). */
function memoryKb(): { rss: number; heapTotal: number; heapUsed: number; external: number } {
  const m = process.memoryUsage();
  const kb = (n: number) => Math.round(n / 1024);
  return { rss: kb(m.rss), heapTotal: kb(m.heapTotal), heapUsed: kb(m.heapUsed), external: kb(m.external) };
}

let gc: (() => void) | null = null;
/** A full collection (V8's gc(), exposed on first use: the daemon does not start with --expose-gc). */
function collectGarbage(): Record<string, never> {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  return {};
}
