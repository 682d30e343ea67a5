// What every command gets: the global flags and a way to reach the daemon.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { BusClient } from '../bus/client.js';
import { daemonEntry, socketPath } from '../paths.js';
import { daemonLockHeld } from '../daemon-lock.js';
import { RunaError } from '../errors.js';
import { explainRootError } from '../rootless.js';
import { localHost, type Host } from './host.js';
import { resolveId } from './ids.js';
import type { DebugLog } from './debug-log.js';
import type { NetworkType } from '../oci/plan/network.js';
import type { StraceSettings } from './strace.js';

export interface Globals {
  root: string;
  /** no default root could be chosen (a non-root user without XDG_RUNTIME_DIR): said when a command needs it */
  rootError?: Error;
  /** --rootless, resolved: cgroup permission errors are ignored (runc's rootless cgroup manager) */
  rootless?: boolean;
  log?: string;
  /** --log-fd: an inherited fd that gets what --log would */
  logFd?: number;
  logFormat: 'text' | 'json';
  debug: boolean;
  /** --overlay / --overlay2 (runsc), checked: what create and run give their containers (src/cli/overlay.ts) */
  overlay?: 'root' | 'all' | 'none';
  /** runsc's --network, when given (src/oci/plan/network.ts) */
  network?: NetworkType;
  /** runsc's --net-raw, when given: false drops CAP_NET_RAW from a container's init */
  netRaw?: boolean;
  /** --strace (runsc), checked: the processes the command starts are traced into --debug-log */
  strace?: StraceSettings;
}

/** What `runa daemon` is asked to run. */
export interface DaemonOptions {
  root: string;
  /** leave after this long with no container and no client; null: never */
  idleMs: number | null;
}

/**
 * The daemon, as the entry point gives it (src/cli/main.ts, src/daemon/main.ts): the daemon
 * runs the CLI's commands for the native front end (src/daemon/front-end.ts), so the CLI's
 * `daemon` command does not import it.
 */
export type RunDaemon = (opts: DaemonOptions) => Promise<number>;

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Where a command's output goes, and the directory its relative paths start from (read only
 * when a relative path needs it: a caller may stand in a directory that is gone, as
 * containerd's shim does once its pod's first container is deleted).
 */
export interface CliIO {
  out(s: string): void;
  err(s: string): void;
  readonly cwd: string;
  /** the caller's environment */
  readonly env: NodeJS.ProcessEnv;
}

/** A path as the caller meant it: relative ones from its directory. */
export function absolute(io: CliIO, p: string): string {
  return path.isAbsolute(p) ? path.resolve(p) : path.resolve(io.cwd, p);
}
export const processIO: CliIO = {
  out: (s) => { process.stdout.write(s); },
  err: (s) => { process.stderr.write(s); },
  get cwd() { return process.cwd(); },
  env: process.env,
};

export class Context {
  private client: BusClient | null = null;
  private readonly started = performance.now();
  /** when the command began (ms since the epoch): the daemon's history from then goes to the debug log */
  readonly startedAt = Date.now();
  /** --debug-log / --debug-log-fd (src/cli/debug-log-command.ts) */
  debugLog: DebugLog | null = null;
  /** the container the command is about, for the debug log's daemon lines */
  debugLogId: string | null = null;
  /**
   * @param connect how to reach the daemon when the command runs inside it (`cli.run`);
   *   by default, over its socket, starting it if none answers
   */
  constructor(
    readonly globals: Globals,
    readonly io: CliIO = processIO,
    private readonly connectTo?: () => Promise<BusClient>,
    /** where nsinit is spawned and waited for: this process, or the native front end */
    readonly host: Host = localHost,
    /** what `runa daemon` runs, from the entry point (none where the daemon cannot be run) */
    readonly runDaemon?: RunDaemon,
  ) {}

  /** The container id the caller gave: an existing id, or a unique prefix of one (runsc's rule). */
  id(given: string): string { return resolveId(this.root, given); }

  /** A path the caller gave, made absolute from its directory. */
  abs(p: string): string { return absolute(this.io, p); }

  out(s: string): void { this.io.out(s); }
  err(s: string): void { this.io.err(s); }

  /**
   * One log line, as runc writes them: to --log (text or json) if given, else to stderr.
   * Debug lines only with --debug; each says how long the command has run.
   */
  log(level: 'debug' | 'warning', msg: string): void {
    if (level === 'debug' && !this.globals.debug) return;
    this.debugLog?.write(level, msg);
    const time = new Date().toISOString();
    const ms = Math.round((performance.now() - this.started) * 10) / 10;
    const line = (this.globals.log || this.globals.logFd !== undefined) && this.globals.logFormat === 'json'
      ? JSON.stringify({ level, msg, time, ms }) + '\n'
      : `time="${time}" level=${level} msg=${JSON.stringify(msg)} ms=${ms}\n`;
    if (this.globals.logFd !== undefined) fs.writeSync(this.globals.logFd, line);
    else if (this.globals.log) fs.appendFileSync(this.globals.log, line);
    else this.io.err(line);
  }

  private rootChecked = false;
  get root(): string {
    if (this.globals.rootError) throw this.globals.rootError;
    if (!this.rootChecked) {
      // Another user's root (root's /run/runa, say): said as runc does, not taken for an empty one.
      try { fs.accessSync(this.globals.root, fs.constants.R_OK | fs.constants.X_OK); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EACCES') throw new RunaError('state_root', `open ${this.globals.root}: permission denied`);
      }
      this.rootChecked = true;
    }
    return this.globals.root;
  }

  /** Connect to this root's daemon, starting it (detached) if none answers. */
  async connect(): Promise<BusClient> {
    if (this.client) return this.client;
    const client = await this.connectRaw();
    if (this.debugLog) (await import('./debug-log-command.js')).logRequests(this, client);
    return client;
  }

  /** Write the debug log's last lines (the daemon's, then the status) and close it. */
  async finishDebugLog(status: number): Promise<void> {
    if (!this.debugLog) return;
    await (await import('./debug-log-command.js')).finish(this, status);
  }

  /** The daemon if it is there (a command that never started it does not start it now), else null. */
  async connectIfRunning(): Promise<BusClient | null> {
    if (this.client) return this.client;
    if (this.connectTo) return (this.client = await this.connectTo());
    const { BusClient } = await import('../bus/client.js');
    try { return (this.client = await BusClient.connect(socketPath(this.root))); } catch { return null; }
  }

  private async connectRaw(): Promise<BusClient> {
    if (this.connectTo) return (this.client = await this.connectTo());
    const { BusClient } = await import('../bus/client.js'); // ws is loaded only by commands that talk to the daemon
    const sock = socketPath(this.root);
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    let started = 0;
    let delay = 2;
    for (;;) {
      try {
        this.client = await BusClient.connect(sock);
        return this.client;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EACCES') throw new RunaError('no_daemon', `connect ${sock}: permission denied (the state root of another user)`);
        // 426: a daemon on its way out answered from its http side; the next one will listen.
        const leaving = e instanceof RunaError && e.code === 'handshake' && / 426 /.test(e.message);
        // A daemon that died while it accepted us (killed, crashed): nothing was sent, so the
        // request goes to the next one, as when none listened (the chaos soak's `read ECONNRESET`).
        const died = code === 'ECONNRESET' || code === 'EPIPE' || (e instanceof RunaError && e.code === 'handshake_closed');
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED' && !leaving && !died) throw e;
        if (Date.now() > deadline) throw new RunaError('no_daemon', `cannot reach the runa daemon at ${sock}`);
        // None started yet, or the one that was died before it listened (its lock is free): start one.
        if (!started || (Date.now() - started >= 300 && !daemonLockHeld(this.root))) { this.startDaemon(); started = Date.now(); }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 50);
      }
    }
  }

  private startDaemon(): void {
    try {
      fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw explainRootError(this.root, e as NodeJS.ErrnoException, this.io.env);
    }
    const log = fs.openSync(path.join(this.root, 'daemon.log'), 'a', 0o600);
    // As the front end starts it (native/runa.c): without NODE_EXTRA_CA_CERTS, which Node.js
    // reads and parses at start, for a daemon that makes no TLS connection.
    const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
    const child = spawn(process.execPath, [daemonEntry, '--root', this.root, 'daemon'], { detached: true, stdio: ['ignore', log, log], env });
    child.unref();
    fs.closeSync(log);
  }

  close(): void {
    this.client?.close();
    this.client = null;
  }
}
