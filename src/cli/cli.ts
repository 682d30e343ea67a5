// runa's command line: runc-compatible global flags, then one command, loaded on demand
// so a command pays only for what it uses. It runs in the CLI process (src/cli/main.ts) and,
// for the commands that only talk to the daemon, in the daemon itself on behalf of the native
// front end (native/runa.c, `cli.run`): its output and its status go back to the caller.
import fs from 'node:fs';
import { Context, absolute, processIO, type CliIO, type Globals, type RunDaemon } from './context.js';
import type { Host } from './host.js';
import { parseFlags, usage, UsageError, type FlagSpecs } from './flags.js';
import { commandHelp, optionLines } from './help.js';
import type { Command, CommandTable } from './command.js';
import { defaultStateRoot, rootlessCgroups } from '../rootless.js';
import { RunaError } from '../errors.js';
import { onPath } from '../which.js';
import { checkPattern, logLine, parseFd } from './debug-log.js';
import { OVERLAY_FLAGS, overlayFlags } from './overlay.js';
import { parseNetworkType } from '../oci/plan/network.js';

export type { Command } from './command.js';

export const COMMANDS: CommandTable = {
  create: () => import('./commands/create.js'),
  start: () => import('./commands/start.js'),
  exec: () => import('./commands/exec.js'),
  ps: () => import('./commands/ps.js'),
  pause: () => import('./commands/pause.js'),
  resume: () => import('./commands/resume.js'),
  events: () => import('./commands/events.js'),
  update: () => import('./commands/update.js'),
  run: () => import('./commands/run.js'),
  state: () => import('./commands/state.js'),
  list: () => import('./commands/list.js'),
  kill: () => import('./commands/kill.js'),
  delete: () => import('./commands/delete.js'),
  wait: () => import('./commands/wait.js'),
  spec: () => import('./commands/spec.js'),
  features: () => import('./commands/features.js'),
  do: () => import('./commands/do.js'),
  daemon: () => import('./commands/daemon.js'),
  checkpoint: () => import('./commands/checkpoint.js'),
  restore: () => import('./commands/restore.js'),
  debug: () => import('./commands/debug.js'),
  ui: () => import('./commands/ui.js'),
  // (given the table it completes from, which lists it)
  completion: async () => ({ default: (await import('./commands/completion.js')).completionCommand(COMMANDS, GLOBAL_FLAGS) }),
  // runsc's: every global flag with its default and help
  flags: async () => ({ default: (await import('./commands/flags.js')).flagsCommand(GLOBAL_FLAGS) }),
};
export const ALIASES: Record<string, string> = { ls: 'list', rm: 'delete', del: 'delete' };

import { COMMIT, SPEC_VERSION, VERSION } from '../version.js';

export const GLOBAL_FLAGS: FlagSpecs = {
  debug: { kind: 'bool', usage: 'enable debug logging: one line per step, with the time since the command began' },
  log: { kind: 'string', usage: 'set the log file to write runa logs to', default: '/dev/stderr' },
  'log-format': { kind: 'string', usage: 'set the log format (\'text\' or \'json\')', default: 'text' },
  'log-fd': { kind: 'string', usage: 'file descriptor to log to (runsc): what --log would get goes to this inherited fd instead (not with --log)', value: 'FD', default: '-1' },
  'debug-log': { kind: 'string', usage: 'additional location for this command\'s log (runsc): its requests to the daemon, the daemon\'s history of the container meanwhile, its steps (with --debug), warnings and errors. If it ends with \'/\', a file per command is made inside the directory (runa.log.%TIMESTAMP%.%COMMAND%.txt). Variables: %TIMESTAMP%, %COMMAND%, %ID% (the sandbox), %CID% (the container), %TEST%', value: 'PATTERN' },
  'debug-log-format': { kind: 'string', usage: 'set the debug log format (\'text\' or \'json\'; needs --debug-log or --debug-log-fd)', default: 'text' },
  'debug-log-fd': { kind: 'string', usage: 'file descriptor to write the debug log to (runsc): an inherited fd, in place of --debug-log (not with it)', value: 'FD', default: '-1' },
  strace: { kind: 'bool', usage: 'enable strace (runsc): every syscall of the processes create, run, do or exec start (and of their children and threads, and of every process later exec\'d into a container created so), decoded as strace prints it, one line per syscall as it returns, appended to --debug-log (required); other commands start no process and trace nothing' },
  'strace-syscalls': { kind: 'string', usage: 'comma-separated list of syscalls to trace (runsc); empty: all. A name this architecture has not is refused. Needs --strace', value: 'LIST', default: '' },
  'strace-log-size': { kind: 'string', usage: 'default size (in bytes) to log data argument blobs (runsc): strings and buffers are cut there and shown with "..."; 0 is 1024. Needs --strace', value: 'N', default: '1024' },
  root: { kind: 'string', usage: 'root directory for storage of container state (this should be located in tmpfs)', default: helpRoot() },
  criu: { kind: 'string', usage: 'path to the criu binary used for checkpoint and restore (runa runs `criu` from PATH: another is refused)', default: 'criu' },
  'systemd-cgroup': { kind: 'bool', usage: 'enable systemd cgroup support (refused: runa has no systemd cgroup driver; cgroupsPath is a cgroupfs path)' },
  rootless: { kind: 'string', usage: 'ignore cgroup permission errors (\'true\', \'false\', or \'auto\')', default: 'auto' },
  ...OVERLAY_FLAGS,
  network: { kind: 'string', usage: 'specifies which network to use (runsc): host (the config\'s network namespace, or the runtime\'s where it names none, as runc: runa\'s containers always use the host kernel\'s network stack), sandbox (a network namespace of the container\'s own where the config names none, isolated from the host network), none (a new network namespace with only loopback, whatever the config says). A pod\'s members join their sandbox\'s. `do` has its own --network', default: 'host' },
  'net-raw': { kind: 'bool', usage: 'keep CAP_NET_RAW where the config gives it (runsc\'s flag; true is runa\'s default, as runc). --net-raw=false drops it from the container\'s process, as runsc does by default (exec\'d processes keep it, as with runsc)', default: 'true' },
  help: { kind: 'bool', alias: 'h', usage: 'show help' },
  version: { kind: 'bool', alias: 'v', usage: 'print the version' },
};

/** The default root as help shows it. */
function helpRoot(): string {
  const r = defaultStateRoot();
  return typeof r === 'string' ? r : '$XDG_RUNTIME_DIR/runa';
}

/** `runa --help`: runc's layout, every command with its summary. */
async function appHelp(): Promise<string> {
  const names = Object.keys(COMMANDS);
  const summaries = await Promise.all(names.map(async (n) => (await COMMANDS[n]()).default.summary));
  const width = Math.max(...names.map((n) => n.length), 4);
  return [
    'NAME:',
    '   runa - an OCI container runtime, built as an actor system (runc-compatible)',
    '',
    'USAGE:',
    '   runa [global options] command [command options] [arguments...]',
    '',
    'VERSION:',
    `   ${VERSION}`,
    `commit: ${COMMIT}`,
    `spec: ${SPEC_VERSION}`,
    '',
    'COMMANDS:',
    ...names.map((n, i) => `   ${n.padEnd(width)}  ${summaries[i]}`),
    `   ${'help, h'.padEnd(width)}  Shows a list of commands or help for one command`,
    '',
    'GLOBAL OPTIONS:',
    ...optionLines(GLOBAL_FLAGS),
    '',
  ].join('\n');
}

/** The global flags runa refuses rather than ignore (see their help). */
function refuseGlobals(values: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (values['systemd-cgroup']) throw new RunaError('unsupported', '--systemd-cgroup: runa has no systemd cgroup driver; use cgroupfs (podman --cgroup-manager cgroupfs; containerd SystemdCgroup = false)');
  const rootless = values.rootless as string | undefined;
  if (rootless !== undefined && !['true', 'false', 'auto'].includes(rootless)) throw usage(`invalid value "${rootless}" for flag -rootless: must be true, false or auto`);
  if (values.log !== undefined && values['log-fd'] !== undefined) throw usage('--log and --log-fd cannot both be given: --log-fd replaces --log');
  if (values['debug-log'] !== undefined && values['debug-log-fd'] !== undefined) throw usage('--debug-log and --debug-log-fd cannot both be given: --debug-log-fd replaces --debug-log');
  const dlf = values['debug-log-format'] as string | undefined;
  if (dlf !== undefined && dlf !== 'text' && dlf !== 'json') throw usage(`invalid debug log format "${dlf}", must be 'text' or 'json'`);
  if (dlf !== undefined && values['debug-log'] === undefined && values['debug-log-fd'] === undefined) throw usage('--debug-log-format needs --debug-log or --debug-log-fd');
  if (values['debug-log'] !== undefined) checkPattern(values['debug-log'] as string);
  const criu = values.criu as string | undefined;
  if (criu !== undefined && criu !== 'criu' && !sameFile(criu, onPath('criu', env))) throw new RunaError('unsupported', `--criu ${criu}: runa runs criu from PATH; another binary is not supported`);
}

/** The global flags, up to the command's name. */
export function parseGlobals(argv: string[], io: CliIO) {
  // Global flags stop at the first positional: the command name.
  const { values, positionals } = parseFlags(argv, GLOBAL_FLAGS, { stopAtPositional: true });
  // -1 is runsc's "none" for an fd flag.
  for (const f of ['log-fd', 'debug-log-fd']) if (values[f] === '-1') delete values[f];
  const fmt = (values['log-format'] as string | undefined) ?? 'text';
  const root = values.root as string | undefined;
  const log = values.log as string | undefined;
  // The default root follows the caller's environment (XDG_RUNTIME_DIR), also in the daemon.
  const chosen = root === undefined ? defaultStateRoot(io.env) : absolute(io, root);
  const rootless = values.rootless as string | undefined;
  const globals: Globals = {
    root: typeof chosen === 'string' ? chosen : '',
    ...(typeof chosen === 'string' ? {} : { rootError: chosen }),
    log: log === undefined ? undefined : absolute(io, log),
    logFormat: fmt === 'json' ? 'json' : 'text',
    debug: Boolean(values.debug),
    rootless: rootlessCgroups(rootless),
    ...(values['net-raw'] !== undefined ? { netRaw: Boolean(values['net-raw']) } : {}),
  };
  const [name, ...rest] = positionals;
  return { values, globals, fmt, name: name === undefined ? undefined : ALIASES[name] ?? name, given: name, rest, argv };
}

/**
 * Run one command line; never throws: an error is reported as runc does (stderr, and --log)
 * and becomes the exit status.
 */
export async function runCli(argv: string[], io: CliIO = processIO, connect?: Context['connect'], host?: Host, runDaemon?: RunDaemon): Promise<number> {
  let globals: Globals | null = null;
  let topic: { name: string; cmd: Command } | null = null;
  try {
    const parsed = parseGlobals(argv, io);
    globals = parsed.globals;
    return await main(parsed, io, (t) => { topic = t; }, connect, host, runDaemon);
  } catch (e) {
    // As urfave/cli: a usage error shows the command's help on stdout, then the error.
    if (e instanceof UsageError) {
      const t = topic as { name: string; cmd: Command } | null;
      io.out(`Incorrect Usage${e.flag ? `: ${e.message}` : '.'}\n\n${t ? commandHelp(t.name, t.cmd) : await appHelp()}`);
    }
    await report(e, globals, io);
    return (e instanceof RunaError && e.exitStatus) || 1;
  }
}

async function main({ values, globals, fmt, name, given, rest, argv }: ReturnType<typeof parseGlobals>, io: CliIO, running: (t: { name: string; cmd: Command }) => void, connect?: Context['connect'], host?: Host, runDaemon?: RunDaemon): Promise<number> {
  if (fmt !== 'text' && fmt !== 'json') throw usage(`invalid log format "${fmt}", must be 'text' or 'json'`);
  refuseGlobals(values, io.env);
  globals.overlay = overlayFlags(values);
  if (values['log-fd'] !== undefined) globals.logFd = parseFd('log-fd', values['log-fd'] as string);
  if (values.network !== undefined) globals.network = parseNetworkType(values.network as string);
  if (values.strace !== undefined || values['strace-syscalls'] !== undefined || values['strace-log-size'] !== undefined) {
    globals.strace = (await import('./strace.js')).straceFlags(values); // the syscall tables only when asked
  }
  const debugLogFd = values['debug-log-fd'] === undefined ? undefined : parseFd('debug-log-fd', values['debug-log-fd'] as string);
  // runc opens --log whatever happens; callers (containerd's shim) read it after every call.
  if (globals.log) fs.closeSync(fs.openSync(globals.log, 'a', 0o644));
  if (values.version) {
    io.out(`runa version ${VERSION}\ncommit: ${COMMIT}\nspec: ${SPEC_VERSION}\n`);
    return 0;
  }
  if (!name || values.help || name === 'help' || name === 'h') {
    // `runa help CMD` is that command's help.
    const topic = name === 'help' || name === 'h' ? rest[0] : undefined;
    if (topic !== undefined) {
      const load = COMMANDS[ALIASES[topic] ?? topic];
      if (!load) throw new RunaError('usage', `No help topic for '${topic}'`, 3);
      io.out(commandHelp(topic, (await load()).default));
      return 0;
    }
    io.out(await appHelp());
    return 0;
  }
  const load = COMMANDS[name];
  // runc: an unknown command is status 3.
  if (!load) throw new RunaError('usage', `No help topic for '${given}'`, 3);
  const cmd = (await load()).default;
  if (wantsHelp(rest)) {
    io.out(commandHelp(given ?? name, cmd));
    return 0;
  }
  running({ name: given ?? name, cmd });
  const ctx = new Context(globals, io, connect, host, runDaemon);
  const pattern = values['debug-log'] as string | undefined;
  if (pattern !== undefined || debugLogFd !== undefined) {
    const { openDebugLog } = await import('./debug-log-command.js');
    await openDebugLog(ctx, { pattern, fd: debugLogFd, format: values['debug-log-format'] === 'json' ? 'json' : 'text', command: name, args: rest, flags: cmd.flags, argv });
  }
  let status = 1;
  try {
    status = await cmd.run(ctx, rest);
    return status;
  } catch (e) {
    ctx.debugLog?.write('error', e instanceof Error ? e.message : String(e));
    status = (e instanceof RunaError && e.exitStatus) || 1;
    throw e;
  } finally {
    await ctx.finishDebugLog(status);
    ctx.close();
  }
}

/** `runa CMD --help` (podman probes `checkpoint --help`): a --help among the flags before the first argument. */
function wantsHelp(args: string[]): boolean {
  for (const a of args) {
    if (a === '--help' || a === '-help' || a === '-h') return true;
    if (a === '--' || !a.startsWith('-')) return false;
  }
  return false;
}

/** runc's convention: the error on stderr (logrus text) and, with --log-format json, in --log. */
async function report(e: unknown, g: Globals | null, io: CliIO): Promise<void> {
  const msg = e instanceof Error ? e.message : String(e);
  if (g?.debug && e instanceof Error && !(e instanceof RunaError)) io.err(`${e.stack}\n`);
  if (g?.logFd !== undefined) {
    try { fs.writeSync(g.logFd, logLine(g.logFormat, 'error', msg)); } catch { /* best effort, as --log */ }
  } else if (g?.log) {
    try {
      const { reportToLog } = await import('./log.js');
      reportToLog(g.log, g.logFormat, msg);
    } catch { /* the log is best effort; stderr still gets it */ }
  }
  io.err(`${msg}\n`);
}

/** `--criu PATH` naming the very criu that PATH finds (runc's default is the full path of it). */
function sameFile(given: string, found: string | null): boolean {
  try { return found !== null && fs.realpathSync(given) === found; } catch { return false; }
}
