import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../command.js';
import type { Context } from '../context.js';
import { parseFlags, usage, type FlagSpecs } from '../flags.js';
import { RunaError } from '../../errors.js';
import { preserveFdsFlag, spawnNsinit, writePidFile } from '../lifecycle.js';
import type { ExecOverrides } from '../../bus/messages.js';
import { nsPids } from '../../proc.js';
import { containerDir, stracePlanFile } from '../../paths.js';

const execFlags: FlagSpecs = {
  'console-socket': { kind: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
  cwd: { kind: 'string', usage: 'current working directory in the container' },
  env: { kind: 'strings', alias: 'e', usage: 'set environment variables' },
  tty: { kind: 'bool', alias: 't', usage: 'allocate a pseudo-TTY' },
  user: { kind: 'string', alias: 'u', usage: 'UID (format: <uid>[:<gid>])' },
  'additional-gids': { kind: 'strings', alias: 'g', usage: 'additional gids' },
  process: { kind: 'string', alias: 'p', usage: 'path to the process.json' },
  detach: { kind: 'bool', alias: 'd', usage: 'detach from the container\'s process' },
  'pid-file': { kind: 'string', usage: 'specify the file to write the process id to' },
  'internal-pid-file': { kind: 'string', usage: 'filename that the container-internal pid will be written to (runsc): the PID as the container\'s own PID namespace shows it, written before --pid-file' },
  'pidfd-socket': { kind: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the exec process' },
  'process-label': { kind: 'string', usage: 'set the asm process label for the process commonly used with selinux (refused where SELinux is not enabled)' },
  apparmor: { kind: 'string', usage: 'set the apparmor profile for the process (refused where AppArmor is not enabled)' },
  'no-new-privs': { kind: 'bool', usage: 'set the no new privileges value for the process' },
  cap: { kind: 'strings', alias: 'c', usage: 'add a capability to the bounding set for the process' },
  'preserve-fds': { kind: 'string', usage: 'Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)', default: '0' },
  cgroup: { kind: 'strings', usage: 'run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.' },
  'ignore-paused': { kind: 'bool', usage: 'allow exec in a paused container' },
};

function parseId(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new RunaError('invalid_argument', `parsing ${what} ${JSON.stringify(s)}: not a number`);
  return Number(s);
}

const exec: Command = {
  summary: 'execute new process inside the container',
  args: '<container-id> <command> [command options]  || -p process.json <container-id>',
  description: 'The process joins the container\'s namespaces and cgroups, with its seccomp filter,\ncapabilities and user. Without --detach, runa waits for it and exits with its status.',
  flags: execFlags,
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
  const [given, ...cmd] = positionals;
  if (!given) throw usage('exec: a container-id is required');
  const id = ctx.id(given);
  const o: ExecOverrides = {};
  if (values['process-label'] !== undefined) o.selinuxLabel = values['process-label'] as string;
  if (values.apparmor !== undefined) o.apparmorProfile = values.apparmor as string;
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
    ...(values['pidfd-socket'] ? { pidfdSocket: ctx.abs(values['pidfd-socket'] as string) } : {}),
  });
  ctx.log('debug', `exec ${id}: the daemon wrote the plan (${execId})`);
  let spawned;
  try {
    // --strace: the exec's own, else the container's (created with --strace), else none.
    const inherited = stracePlanFile(containerDir(ctx.root, id));
    const strace = ctx.globals.strace ? (await import('../strace.js')).writeStracePlan(ctx, path.dirname(plan))
      : fs.existsSync(inherited) ? inherited : undefined;
    spawned = await spawnNsinit(ctx, plan, undefined, preserveFds, false, false, strace);
    ctx.log('debug', `exec ${id}: nsinit joined the container (process ${spawned.initPid})`);
    await client.request({ type: 'exec.started', id, execId, monitorPid: spawned.nsinit.pid });
    ctx.log('debug', `exec ${id}: the process runs`);
  } catch (e) {
    spawned?.nsinit.kill('SIGKILL');
    await client.request({ type: 'exec.failed', id, execId, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  const { nsinit } = spawned;
  // runsc: the internal pid file first, so that it is there once --pid-file is.
  if (values['internal-pid-file']) {
    const inner = nsPids(spawned.initPid)?.at(-1);
    if (inner === undefined) throw new RunaError('exec_failed', `writing internal pid file ${JSON.stringify(values['internal-pid-file'])}: process ${spawned.initPid} is gone`);
    writePidFile(ctx.abs(values['internal-pid-file'] as string), inner);
  }
  if (values['pid-file']) writePidFile(ctx.abs(values['pid-file'] as string), spawned.initPid);
  if (values.detach) {
    nsinit.detach();
    return 0;
  }
  ctx.close();
  return nsinit.wait();
}
