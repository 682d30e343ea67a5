// The part of create/run/do that the CLI itself does: it spawns nsinit (so the monitor is
// the caller's descendant, as OCI callers expect) and reports the outcome to the daemon.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Context } from './context.js';
import { nsinitPath } from '../paths.js';
import { RunaError } from '../errors.js';

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  overlay?: boolean;
  consoleSocket?: string;
  foreground?: boolean;
  /** start the container in the same round trip (run, do) */
  start?: boolean;
  /** --preserve-fds N: the caller's fds 3 .. 2+N go to the process */
  preserveFds?: number;
}

export interface Created { child: ChildProcess; monitorPid: number; initPid: number }

/** Runs the hooks of one create-time hook point; a rejection fails the create. */
export type HookRunner = (name: string, childPid: number, monitorPid: number) => Promise<void>;

/**
 * Follow nsinit's sync channel (fd 3): hook points (`hook\t<name>\t<pid>`, answered `ok` or
 * `fail\t<message>`), then `created\t<initPid>` or `error\t<errno>\t<message>`.
 */
function readSync(child: ChildProcess, onHook: HookRunner | undefined, fd: number): Promise<number> {
  const stream = child.stdio[fd] as import('node:net').Socket;
  return new Promise((resolve, reject) => {
    let buf = '';
    let settled = false;
    const done = (fn: () => void) => { if (settled) return; settled = true; stream.removeAllListeners(); stream.destroy(); fn(); };
    const line = (text: string) => {
      const [kind, a, ...rest] = text.split('\t');
      if (kind === 'hook') {
        const answer = onHook ? onHook(a, Number(rest[0]), child.pid!) : Promise.reject(new Error('no hook runner'));
        answer.then(
          () => stream.write('ok\n'),
          (e: Error) => stream.write(`fail\t${e.message.replace(/[\t\n]+/g, ' ')}\n`),
        );
      } else if (kind === 'created') done(() => resolve(Number(a)));
      else done(() => reject(new RunaError('create_failed', rest.join('\t') || `nsinit failed (errno ${a})`)));
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while (!settled && (nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        line(text);
      }
    });
    stream.on('end', () => done(() => reject(new RunaError('create_failed', 'nsinit exited before the container was created'))));
    stream.on('error', (e) => done(() => reject(e)));
  });
}

export async function createContainer(ctx: Context, opts: CreateOptions): Promise<Created> {
  const client = await ctx.connect();
  const { plan, warnings, notices } = await client.request<{ plan: string; warnings?: string[]; notices?: string[] }>({
    type: 'container.create', id: opts.id, bundle: path.resolve(opts.bundle), overlay: opts.overlay,
    consoleSocket: opts.consoleSocket && path.resolve(opts.consoleSocket), foreground: opts.foreground,
    // A caller that asks for a pid file reaps that process (containerd's shim, conmon): it gets
    // the container's init as its child. runa supervises only in the foreground or without one.
    supervised: Boolean(opts.pidFile) && !opts.foreground,
  });
  ctx.log('debug', `create ${opts.id}: the daemon validated the bundle and wrote the plan`);
  for (const w of warnings ?? []) ctx.log('debug', w);
  for (const n of notices ?? []) ctx.log('warning', n);
  let spawned: { child: ChildProcess; initPid: number };
  try {
    spawned = await spawnNsinit(plan, (kind, childPid, monitorPid) =>
      client.request({ type: 'container.hooks', id: opts.id, kind: kind as 'createRuntime', childPid, monitorPid }).then(() => undefined), opts.preserveFds);
  } catch (e) {
    await client.request({ type: 'container.createFailed', id: opts.id, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  const { child, initPid } = spawned;
  const monitorPid = child.pid!;
  ctx.log('debug', `create ${opts.id}: nsinit set the container up (monitor ${monitorPid}, init ${initPid})`);
  try {
    await client.request({ type: 'container.created', id: opts.id, monitorPid, initPid, start: opts.start });
  } catch (e) {
    child.kill('SIGKILL');
    await client.request({ type: 'container.createFailed', id: opts.id, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  ctx.log('debug', `create ${opts.id}: the daemon follows the monitor${opts.start ? ', the process started' : ''}`);
  // Written last: callers take the pid file as "create is complete". The init, as runc writes.
  if (opts.pidFile) writePidFile(opts.pidFile, initPid);
  return { child, monitorPid, initPid };
}

/**
 * Spawn nsinit on a plan with the caller's stdio (and, with `preserveFds`, the caller's fds
 * 3 .. 2+N at the same numbers) and wait for its `created` line on the sync channel after them.
 */
export async function spawnNsinit(plan: string, onHook?: HookRunner, preserveFds = 0): Promise<{ child: ChildProcess; initPid: number }> {
  const preserved = Array.from({ length: preserveFds }, (_, i) => 3 + i);
  const args = preserveFds ? ['--preserve-fds', String(preserveFds), plan] : [plan];
  const child = spawn(nsinitPath, args, { stdio: ['inherit', 'inherit', 'inherit', ...preserved, 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
  } catch (e) {
    throw new RunaError('create_failed', `starting nsinit (${nsinitPath}): ${(e as Error).message}`);
  }
  return { child, initPid: await readSync(child, onHook, 3 + preserveFds) };
}

/** `--preserve-fds N`: a count of the caller's fds from 3 on (which ones are open is the caller's business, as with runc). */
export function preserveFdsFlag(value: unknown): number {
  if (value === undefined) return 0;
  const s = String(value);
  // A flag value error, as urfave/cli reports it for runc: a usage error (status 1).
  if (!/^\d+$/.test(s) || Number(s) > 1000) throw new RunaError('usage', `invalid --preserve-fds value ${JSON.stringify(s)}`);
  return Number(s);
}

export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}`);
  fs.writeFileSync(tmp, String(pid), { mode: 0o644 });
  fs.renameSync(tmp, abs);
}

/** The exit status a waiting parent sees: the code, or 128+signal. */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? (signalNumber(signal) ?? 0) : 0;
  return 128 + n;
}

export function signalNumber(name: string): number | undefined {
  const s = (constants.signals as Record<string, number>)[name];
  return s;
}

/** Forward the signals a foreground `run` receives to the monitor, which passes them on. */
export function forwardSignals(child: ChildProcess): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  const handler = (sig: NodeJS.Signals) => { try { child.kill(sig); } catch { /* gone */ } };
  for (const s of sigs) process.on(s, handler);
  return () => { for (const s of sigs) process.off(s, handler); };
}

/** Wait for the monitor to exit: its status is the container's. */
export function waitChild(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(exitStatusOf(child.exitCode, child.signalCode));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(exitStatusOf(code, signal))));
}
