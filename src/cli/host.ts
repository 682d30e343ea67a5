// What a command needs from the process that runs it on the caller's side: spawning nsinit
// (so that the monitor is the caller's descendant, as OCI callers expect), talking to it on
// its sync channel, and waiting for it while passing signals on. The Node.js CLI does it
// itself (LocalHost); for the native front end, the daemon asks the front end to (RemoteHost
// in src/daemon/front-end.ts). The command's logic is the same either way.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Socket } from 'node:net';
import { nsinitPath } from '../paths.js';
import { RunaError } from '../errors.js';

export interface NsinitProcess {
  readonly pid: number;
  /** The next line nsinit writes on its sync channel (without its newline), or null at its end. */
  readLine(): Promise<string | null>;
  writeLine(line: string): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  /** Wait for it to exit, passing on the signals the command receives; the status a parent sees. */
  wait(): Promise<number>;
  /** Leave it running when the command ends. */
  detach(): void;
}

export interface Host {
  /** nsinit with the caller's stdio, its fds 3 .. 2+N (`--preserve-fds N`), and the sync channel after them. */
  spawnNsinit(args: string[], preserveFds: number): Promise<NsinitProcess>;
}

/** The exit status a waiting parent sees: the code, or 128+signal. */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
  return 128 + n;
}

/** Signals a foreground command passes on to the monitor, which passes them to the process. */
export const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

class LocalNsinit implements NsinitProcess {
  private buf = '';
  private ended = false;
  private readonly waiting: Array<(line: string | null) => void> = [];
  private readonly stream: Socket;

  constructor(private readonly child: ChildProcess, fd: number) {
    this.stream = child.stdio[fd] as Socket;
    this.stream.setEncoding('utf8');
    this.stream.on('data', (chunk: string) => { this.buf += chunk; this.drain(); });
    const end = () => { this.ended = true; this.drain(); };
    this.stream.on('end', end);
    this.stream.on('error', end);
  }

  get pid(): number { return this.child.pid!; }

  private drain(): void {
    while (this.waiting.length) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0 && !this.ended) return;
      const take = this.waiting.shift()!;
      if (nl < 0) { take(null); continue; }
      take(this.buf.slice(0, nl));
      this.buf = this.buf.slice(nl + 1);
    }
  }

  readLine(): Promise<string | null> {
    return new Promise((resolve) => { this.waiting.push(resolve); this.drain(); });
  }

  writeLine(line: string): Promise<void> {
    return new Promise((resolve) => { this.stream.write(`${line}\n`, () => resolve()); });
  }

  kill(signal: NodeJS.Signals): void {
    try { this.child.kill(signal); } catch { /* gone */ }
  }

  wait(): Promise<number> {
    this.closeSync();
    const child = this.child;
    const handler = (sig: NodeJS.Signals) => { try { child.kill(sig); } catch { /* gone */ } };
    for (const s of FORWARDED) process.on(s, handler);
    const stop = () => { for (const s of FORWARDED) process.off(s, handler); };
    if (child.exitCode !== null || child.signalCode !== null) { stop(); return Promise.resolve(exitStatusOf(child.exitCode, child.signalCode)); }
    return new Promise((resolve) => child.once('exit', (code, signal) => { stop(); resolve(exitStatusOf(code, signal)); }));
  }

  detach(): void {
    this.closeSync();
    this.child.unref();
  }

  private closeSync(): void {
    this.stream.removeAllListeners();
    this.stream.destroy();
  }
}

export const localHost: Host = {
  async spawnNsinit(args, preserveFds) {
    const preserved = Array.from({ length: preserveFds }, (_, i) => 3 + i);
    const child = spawn(nsinitPath, args, { stdio: ['inherit', 'inherit', 'inherit', ...preserved, 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
    } catch (e) {
      throw new RunaError('create_failed', `starting nsinit (${nsinitPath}): ${(e as Error).message}`);
    }
    return new LocalNsinit(child, 3 + preserveFds);
  },
};
