import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../cli.js';
import type { Context } from '../context.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { preserveFdsFlag, spawnNsinit, writePidFile } from '../lifecycle.js';
import type { ExecOverrides } from '../../bus/messages.js';

const execFlags = {
  cwd: { kind: 'string' },
  env: { kind: 'strings', alias: 'e' },
  user: { kind: 'string', alias: 'u' },
  'additional-gids': { kind: 'strings', alias: 'g' },
  cap: { kind: 'strings', alias: 'c' },
  'no-new-privs': { kind: 'bool' },
  process: { kind: 'string', alias: 'p' },
  detach: { kind: 'bool', alias: 'd' },
  'pid-file': { kind: 'string' },
  tty: { kind: 'bool', alias: 't' },
  'console-socket': { kind: 'string' },
  'ignore-paused': { kind: 'bool' },
  'preserve-fds': { kind: 'string' },
  'process-label': { kind: 'string', ignored: true },
  'apparmor': { kind: 'string', ignored: true },
  cgroup: { kind: 'strings' },
} as const;

function parseId(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new RunaError('invalid_argument', `parsing ${what} ${JSON.stringify(s)}: not a number`);
  return Number(s);
}

const exec: Command = {
  summary: 'run a new process inside a running container',
  async run(ctx, args) {
    // runc: a usage error exits 1, any other failure of exec exits 255.
    try {
      return await execCommand(ctx, args);
    } catch (e) {
      if (!(e instanceof Error) || (e instanceof RunaError && e.code === 'usage')) throw e;
      throw new RunaError(e instanceof RunaError ? e.code : 'exec_failed', e.message, 255);
    }
  },
};
export default exec;

async function execCommand(ctx: Context, args: string[]): Promise<number> {
  // Flags come before the container id; everything after the id is the command.
  const { values, positionals } = parseFlags(args, execFlags, { stopAtPositional: true });
  const [id, ...cmd] = positionals;
  if (!id) throw usage('exec: a container-id is required');
  const o: ExecOverrides = {};
  if (values.process) {
    const file = values.process as string;
    try { o.process = JSON.parse(fs.readFileSync(ctx.abs(file), 'utf8')); } catch (e) { throw new RunaError('invalid_argument', `parsing process file ${file}: ${(e as Error).message}`); }
  } else if (!cmd.length) {
    throw usage('exec: both a container-id and command are required');
  }
  if (cmd.length) o.args = cmd;
  for (const e of (values.env as string[] | undefined) ?? []) if (!e.includes('=')) throw new RunaError('invalid_argument', `invalid variable: ${JSON.stringify(e)}`);
  if (values.env) o.env = values.env as string[];
  if (values.cwd) o.cwd = values.cwd as string;
  if (values.user) {
    const [u, g] = (values.user as string).split(':');
    o.user = { uid: parseId(u, 'UID'), ...(g !== undefined ? { gid: parseId(g, 'GID') } : {}) };
  }
  if (values['additional-gids']) o.additionalGids = (values['additional-gids'] as string[]).map((g) => parseId(g, 'GID'));
  if (values.cap) o.caps = values.cap as string[];
  if (values['no-new-privs']) o.noNewPrivileges = true;
  if (values.tty) o.terminal = true;
  const consoleSocket = values['console-socket'] as string | undefined;
  // runc's rules, with the tty asked for by -t or by `terminal` in --process (containerd's shim).
  const tty = Boolean(values.tty) || (o.process as { terminal?: unknown } | undefined)?.terminal === true;
  if (tty && values.detach && !consoleSocket) throw new RunaError('invalid_argument', 'cannot allocate tty if runa will detach without setting console socket');
  if (consoleSocket && (!tty || !values.detach)) throw new RunaError('invalid_argument', 'cannot use console socket if runa will not detach or allocate tty');

  const preserveFds = preserveFdsFlag(values['preserve-fds']);
  const client = await ctx.connect();
  const { execId, plan } = await client.request<{ execId: string; plan: string }>({
    type: 'container.exec', id, process: o, consoleSocket: consoleSocket && ctx.abs(consoleSocket),
    // As for create: a detached exec whose caller wants its pid is the caller's child to reap.
    supervised: Boolean(values['pid-file']) && Boolean(values.detach),
    ignorePaused: Boolean(values['ignore-paused']),
    cgroups: values.cgroup as string[] | undefined,
  });
  ctx.log('debug', `exec ${id}: the daemon wrote the plan (${execId})`);
  let spawned;
  try {
    spawned = await spawnNsinit(ctx, plan, undefined, preserveFds);
    ctx.log('debug', `exec ${id}: nsinit joined the container (process ${spawned.initPid})`);
    await client.request({ type: 'exec.started', id, execId, monitorPid: spawned.nsinit.pid });
    ctx.log('debug', `exec ${id}: the process runs`);
  } catch (e) {
    spawned?.nsinit.kill('SIGKILL');
    await client.request({ type: 'exec.failed', id, execId, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  const { nsinit } = spawned;
  if (values['pid-file']) writePidFile(ctx.abs(values['pid-file'] as string), spawned.initPid);
  if (values.detach) {
    nsinit.detach();
    return 0;
  }
  ctx.close();
  return nsinit.wait();
}
