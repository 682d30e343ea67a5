// What every command gets: the global flags and a way to reach the daemon.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { BusClient } from '../bus/client.js';
import { cliEntry, socketPath } from '../paths.js';
import { RunaError } from '../errors.js';

export interface Globals {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
}

const CONNECT_TIMEOUT_MS = 10_000;

export class Context {
  private client: BusClient | null = null;
  private readonly started = performance.now();
  constructor(readonly globals: Globals) {}

  /**
   * One log line, as runc writes them: to --log (text or json) if given, else to stderr.
   * Debug lines only with --debug; each says how long the command has run.
   */
  log(level: 'debug' | 'warning', msg: string): void {
    if (level === 'debug' && !this.globals.debug) return;
    const time = new Date().toISOString();
    const ms = Math.round((performance.now() - this.started) * 10) / 10;
    const line = this.globals.log && this.globals.logFormat === 'json'
      ? JSON.stringify({ level, msg, time, ms }) + '\n'
      : `time="${time}" level=${level} msg=${JSON.stringify(msg)} ms=${ms}\n`;
    if (this.globals.log) fs.appendFileSync(this.globals.log, line);
    else process.stderr.write(line);
  }

  get root(): string { return this.globals.root; }

  /** Connect to this root's daemon, starting it (detached) if none answers. */
  async connect(): Promise<BusClient> {
    if (this.client) return this.client;
    const { BusClient } = await import('../bus/client.js'); // ws is loaded only by commands that talk to the daemon
    const sock = socketPath(this.root);
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    let started = false;
    let delay = 2;
    for (;;) {
      try {
        this.client = await BusClient.connect(sock);
        return this.client;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw e;
        if (Date.now() > deadline) throw new RunaError('no_daemon', `cannot reach the runa daemon at ${sock}`);
        if (!started) { this.startDaemon(); started = true; }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 50);
      }
    }
  }

  private startDaemon(): void {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const log = fs.openSync(path.join(this.root, 'daemon.log'), 'a', 0o600);
    const child = spawn(process.execPath, [cliEntry, '--root', this.root, 'daemon'], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    fs.closeSync(log);
  }

  close(): void {
    this.client?.close();
    this.client = null;
  }
}
