// The part of create/run/exec/do on the caller's side: nsinit is spawned there (so the
// monitor is the caller's descendant, as OCI callers expect; see host.ts) and the outcome
// is reported to the daemon.
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from './context.js';
import type { NsinitProcess } from './host.js';
import { RunaError } from '../errors.js';
import type { RestoreOptions } from '../bus/messages.js';

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  /** runsc's --overlay2 MODE:memory (src/oci/plan/overlay.ts); by default the global --overlay/--overlay2 */
  overlay?: 'root' | 'all';
  consoleSocket?: string;
  foreground?: boolean;
  /** start the container in the same round trip (run, do) */
  start?: boolean;
  /** --preserve-fds N: the caller's fds 3 .. 2+N go to the process */
  preserveFds?: number;
  /** --no-new-keyring: the processes keep the caller's session keyring */
  noNewKeyring?: boolean;
  /** --pidfd-socket: receives a pidfd of the init */
  pidfdSocket?: string;
  /** --no-pivot: nsinit moves the rootfs onto / (MS_MOVE) and chroots instead of pivot_root */
  noPivot?: boolean;
  /** --user-log (runsc): the container's user-visible log */
  userLog?: string;
  /** the global --network is not the container's (do: its spec has the network it asked for) */
  ownNetwork?: boolean;
  /** runa restore: CRIU restores the process from a checkpoint (the container is born running) */
  restore?: RestoreOptions;
}

export interface Created { nsinit: NsinitProcess; monitorPid: number; initPid: number }

/** Runs the hooks of one create-time hook point; a rejection fails the create. */
export type HookRunner = (name: string, childPid: number, monitorPid: number) => Promise<void>;

/**
 * Follow nsinit's sync channel: hook points (`hook\t<name>\t<pid>`, answered `ok` or
 * `fail\t<message>`), then `created\t<initPid>` or `error\t<errno>\t<message>`.
 */
async function readSync(nsinit: NsinitProcess, onHook: HookRunner | undefined): Promise<number> {
  for (;;) {
    const text = await nsinit.readLine();
    if (text === null) {
      // Its status says how: a signal (128+N) is most often a limit or a seccomp profile the
      // config gave it, which nsinit obeys from early on.
      const status = await nsinit.wait().catch(() => null);
      const how = status === null ? '' : status > 128 ? ` (killed by signal ${status - 128})` : ` (status ${status})`;
      throw new RunaError('create_failed', `nsinit exited before the container was created${how}`);
    }
    const [kind, a, ...rest] = text.split('\t');
    if (kind === 'hook') {
      const answer = onHook ? onHook(a, Number(rest[0]), nsinit.pid) : Promise.reject(new Error('no hook runner'));
      await answer.then(
        () => nsinit.writeLine('ok'),
        (e: Error) => nsinit.writeLine(`fail\t${e.message.replace(/[\t\n]+/g, ' ')}`),
      );
    } else if (kind === 'created') return Number(a);
    else throw new RunaError('create_failed', rest.join('\t') || `nsinit failed (errno ${a})`);
  }
}

/** The global --overlay/--overlay2, as create and run apply it ('none': none). */
function overlayOf(ctx: Context): 'root' | 'all' | undefined {
  const o = ctx.globals.overlay;
  return o === 'root' || o === 'all' ? o : undefined;
}

export async function createContainer(ctx: Context, opts: CreateOptions): Promise<Created> {
  const client = await ctx.connect();
  const { plan, warnings, notices, startAtOnce } = await client.request<{ plan: string; warnings?: string[]; notices?: string[]; startAtOnce?: boolean }>({
    type: 'container.create', id: opts.id, bundle: ctx.abs(opts.bundle), overlay: opts.overlay ?? overlayOf(ctx),
    consoleSocket: opts.consoleSocket && ctx.abs(opts.consoleSocket), foreground: opts.foreground,
    // A caller that asks for a pid file reaps that process (containerd's shim, conmon): it gets
    // the container's init as its child. runa supervises only in the foreground or without one.
    supervised: Boolean(opts.pidFile) && !opts.foreground,
    ...(ctx.globals.rootless ? { rootless: true } : {}),
    ...(opts.noNewKeyring ? { noNewKeyring: true } : {}),
    ...(opts.pidfdSocket ? { pidfdSocket: ctx.abs(opts.pidfdSocket) } : {}),
    ...(opts.userLog ? { userLog: ctx.abs(opts.userLog) } : {}),
    ...(opts.start ? { start: true } : {}),
    ...(ctx.globals.network !== undefined && !opts.ownNetwork ? { network: ctx.globals.network } : {}),
    ...(ctx.globals.netRaw !== undefined ? { netRaw: ctx.globals.netRaw } : {}),
    ...(opts.restore ? { restore: opts.restore } : {}),
  });
  ctx.log('debug', `create ${opts.id}: the daemon validated the bundle and wrote the plan`);
  for (const w of warnings ?? []) ctx.log('debug', w);
  for (const n of notices ?? []) ctx.log('warning', n);
  let spawned: { nsinit: NsinitProcess; initPid: number };
  try {
    // --strace: the monitor traces by a plan of the caller's, kept for the processes exec'd later.
    const strace = ctx.globals.strace ? (await import('./strace.js')).writeStracePlan(ctx, path.dirname(plan)) : undefined;
    spawned = await spawnNsinit(ctx, plan, (kind, childPid, monitorPid) =>
      client.request({ type: 'container.hooks', id: opts.id, kind: kind as 'createRuntime', childPid, monitorPid }).then(() => undefined), opts.preserveFds, opts.noPivot, startAtOnce, strace);
  } catch (e) {
    await client.request({ type: 'container.createFailed', id: opts.id, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  const { nsinit, initPid } = spawned;
  const monitorPid = nsinit.pid;
  ctx.log('debug', `create ${opts.id}: nsinit set the container up (monitor ${monitorPid}, init ${initPid})`);
  try {
    await client.request({ type: 'container.created', id: opts.id, monitorPid, initPid, start: opts.start });
  } catch (e) {
    nsinit.kill('SIGKILL');
    await client.request({ type: 'container.createFailed', id: opts.id, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  ctx.log('debug', `create ${opts.id}: the daemon follows the monitor${opts.start ? ', the process started' : ''}`);
  // Written last: callers take the pid file as "create is complete". The init, as runc writes.
  if (opts.pidFile) writePidFile(ctx.abs(opts.pidFile), initPid);
  return { nsinit, monitorPid, initPid };
}

/**
 * Spawn nsinit on a plan, on the caller's side (with the caller's stdio and, with
 * `preserveFds`, its fds 3 .. 2+N), and wait for its `created` line on the sync channel.
 * `noPivot` (runc's --no-pivot) is nsinit's flag: the plan's pivot_root becomes MS_MOVE + chroot;
 * `startAtOnce` (run, as the daemon decided): nsinit opens the gate itself after `created`;
 * `strace` (runsc's --strace) the plan of the monitor's tracer (src/cli/strace.ts).
 */
export async function spawnNsinit(ctx: Context, plan: string, onHook?: HookRunner, preserveFds = 0, noPivot = false, startAtOnce = false, strace?: string): Promise<{ nsinit: NsinitProcess; initPid: number }> {
  const args = [...(noPivot ? ['--no-pivot'] : []), ...(startAtOnce ? ['--start'] : []), ...(preserveFds ? ['--preserve-fds', String(preserveFds)] : []), ...(strace ? ['--strace', strace] : []), plan];
  const nsinit = await ctx.host.spawnNsinit(args, preserveFds);
  try {
    return { nsinit, initPid: await readSync(nsinit, onHook) };
  } catch (e) {
    nsinit.detach();
    throw e;
  }
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
