// runa's command line: runc-compatible global flags, then one command, loaded on demand
// so a command pays only for what it uses. It runs in the CLI process (src/cli/main.ts) and,
// for the commands that only talk to the daemon, in the daemon itself on behalf of the native
// front end (native/runa.c, `cli.run`): its output and its status go back to the caller.
import fs from 'node:fs';
import { Context, absolute, processIO, type CliIO, type Globals } from './context.js';
import type { Host } from './host.js';
import { parseFlags, usage } from './flags.js';
import { defaultRoot } from '../paths.js';
import { RunaError } from '../errors.js';

export interface Command {
  summary: string;
  /** `runa CMD --help`; the summary when absent */
  usage?: string;
  run(ctx: Context, args: string[]): Promise<number>;
}

export const COMMANDS: Record<string, () => Promise<{ default: Command }>> = {
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
};
export const ALIASES: Record<string, string> = { ls: 'list', rm: 'delete', del: 'delete' };

import { COMMIT, SPEC_VERSION, VERSION } from '../version.js';

const GLOBAL_FLAGS = {
  root: { kind: 'string' },
  log: { kind: 'string' },
  'log-format': { kind: 'string' },
  debug: { kind: 'bool' },
  'systemd-cgroup': { kind: 'bool', ignored: true },
  rootless: { kind: 'string', ignored: true },
  criu: { kind: 'string', ignored: true },
  version: { kind: 'bool', alias: 'v' },
  help: { kind: 'bool', alias: 'h' },
} as const;

function help(): string {
  return `runa — an OCI container runtime (runc-compatible)

usage: runa [global options] command [command options] [arguments...]

commands: ${Object.keys(COMMANDS).join(', ')}

global options:
   --root value        root directory for container state (default: "${defaultRoot()}")
   --log value         log file for errors (default: stderr)
   --log-format value  text or json (default: "text")
   --debug             debug output
   --systemd-cgroup    accepted for compatibility
   --rootless value    accepted for compatibility
   --version, -v       print the version
`;
}

/** The global flags, up to the command's name. */
export function parseGlobals(argv: string[], io: CliIO) {
  // Global flags stop at the first positional: the command name.
  const { values, positionals } = parseFlags(argv, GLOBAL_FLAGS as never, { stopAtPositional: true });
  const fmt = (values['log-format'] as string | undefined) ?? 'text';
  const root = values.root as string | undefined;
  const log = values.log as string | undefined;
  const globals: Globals = {
    root: root === undefined ? defaultRoot() : absolute(io, root),
    log: log === undefined ? undefined : absolute(io, log),
    logFormat: fmt === 'json' ? 'json' : 'text',
    debug: Boolean(values.debug),
  };
  const [name, ...rest] = positionals;
  return { values, globals, fmt, name: name === undefined ? undefined : ALIASES[name] ?? name, given: name, rest };
}

/**
 * Run one command line; never throws: an error is reported as runc does (stderr, and --log)
 * and becomes the exit status.
 */
export async function runCli(argv: string[], io: CliIO = processIO, connect?: Context['connect'], host?: Host): Promise<number> {
  let globals: Globals | null = null;
  try {
    const parsed = parseGlobals(argv, io);
    globals = parsed.globals;
    return await main(parsed, io, connect, host);
  } catch (e) {
    await report(e, globals, io);
    return (e instanceof RunaError && e.exitStatus) || 1;
  }
}

async function main({ values, globals, fmt, name, given, rest }: ReturnType<typeof parseGlobals>, io: CliIO, connect?: Context['connect'], host?: Host): Promise<number> {
  if (fmt !== 'text' && fmt !== 'json') throw usage(`invalid log format "${fmt}", must be 'text' or 'json'`);
  // runc opens --log whatever happens; callers (containerd's shim) read it after every call.
  if (globals.log) fs.closeSync(fs.openSync(globals.log, 'a', 0o644));
  if (values.version) {
    io.out(`runa version ${VERSION}\ncommit: ${COMMIT}\nspec: ${SPEC_VERSION}\n`);
    return 0;
  }
  if (!name || values.help || name === 'help') {
    io.out(help());
    return name || values.help ? 0 : 1;
  }
  const load = COMMANDS[name];
  if (!load) throw usage(`No help topic for '${given}'`);
  const cmd = (await load()).default;
  if (wantsHelp(rest)) {
    io.out(cmd.usage ?? `runa ${given} - ${cmd.summary}\n`);
    return 0;
  }
  const ctx = new Context(globals, io, connect, host);
  try {
    return await cmd.run(ctx, rest);
  } finally {
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
  if (g?.log) {
    try {
      const { reportToLog } = await import('./log.js');
      reportToLog(g.log, g.logFormat, msg);
    } catch { /* the log is best effort; stderr still gets it */ }
  }
  io.err(`${msg}\n`);
}
