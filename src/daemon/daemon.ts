// The daemon: one per state root. It holds the actor system (registry of containers),
// serves the bus on <root>/runa.sock, and leaves when idle.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Bus } from '../bus/bus.js';
import { serveSocket, type SocketServer } from '../bus/socket-server.js';
import { Registry } from '../actors/registry.js';
import { socketPath } from '../paths.js';
import { serveCli } from './front-end.js';
import { saveCodeCache } from '../code-cache.js';

import type { DaemonOptions } from '../cli/context.js';

export type { DaemonOptions };

/**
 * One daemon per root, even when many CLIs start one at once: an abstract unix socket
 * named after the root is the lock (atomic to take, released by the kernel when we die).
 * Abstract sockets have no permissions, so the name also holds a key only the root's owner
 * can read: another user cannot take the lock first and keep this root's daemon from starting.
 */
async function takeLock(root: string): Promise<net.Server | null> {
  const lock = net.createServer();
  const key = lockKey(root);
  return new Promise((resolve) => {
    lock.once('error', () => resolve(null));
    lock.listen(`\0runa-daemon:${root}:${key}`, () => resolve(lock));
  });
}

/** The root's lock key (<root>/daemon.key, 0600): made once, atomically (link), by whichever daemon comes first. */
function lockKey(root: string): string {
  const file = path.join(root, 'daemon.key');
  const read = () => { try { return fs.readFileSync(file, 'utf8'); } catch { return null; } };
  const found = read();
  if (found) return found;
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, crypto.randomBytes(16).toString('hex'), { mode: 0o600 });
  try { fs.linkSync(tmp, file); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; } finally { fs.rmSync(tmp, { force: true }); }
  return read()!;
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  fs.mkdirSync(opts.root, { recursive: true, mode: 0o700 });
  const root = fs.realpathSync(opts.root);
  const lock = await takeLock(root);
  if (!lock) return 0; // another daemon owns this root
  lock.unref();

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
    lock.close();
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
  bus.handle('daemon.ping', () => ({ pid: process.pid, containers: registry.size, ...registry.counts(), pausedPeers: server?.paused() ?? 0, clients: server?.clients() ?? 0, refusedPeers: server?.refused() ?? 0 }));
  bus.handle('daemon.shutdown', () => { setImmediate(() => void shutdown()); return {}; });
  serveCli(bus, root);

  await registry.adopt();
  const heartbeatMs = Number(process.env.RUNA_HEARTBEAT_MS) || undefined;
  server = await serveSocket(bus, socketPath(root), { onClients: onChange, heartbeatMs });
  fs.writeFileSync(path.join(root, 'daemon.pid'), String(process.pid));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void shutdown());
  process.on('SIGPIPE', () => {});
  onChange();
  await new Promise<never>(() => {});
  return 0;
}
