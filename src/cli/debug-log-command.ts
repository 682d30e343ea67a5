// The debug log of one command (--debug-log, --debug-log-fd; src/cli/debug-log.ts has the
// file and its formats): opened once the command is known, before it runs; its requests to
// the daemon logged as they go; at the end, the daemon's history of the container while the
// command ran (taken from `container.debug`, so the daemon writes nothing itself and needs no
// state per command) and the exit status.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BusClient } from '../bus/client.js';
import type { Request } from '../bus/messages.js';
import { DebugLog } from './debug-log.js';
import { parseFlags, type FlagSpecs } from './flags.js';
import { containerDir } from '../paths.js';
import { readState, sandboxOf } from '../state.js';
import { sandboxToJoin } from '../oci/sandbox.js';
import { COMMIT, VERSION } from '../version.js';

/**
 * What of the command's Context this uses (not the Context itself: the Context loads this
 * module, and an import back would be a cycle, even of types).
 */
interface Context {
  readonly startedAt: number;
  readonly globals: { root: string };
  debugLog: DebugLog | null;
  debugLogId: string | null;
  abs(p: string): string;
  id(given: string): string;
  connectIfRunning(): Promise<BusClient | null>;
}

/** The commands whose first argument is a container id. */
const ID_COMMANDS = new Set(['create', 'run', 'start', 'exec', 'ps', 'pause', 'resume', 'events', 'update', 'state', 'kill', 'delete', 'wait', 'debug', 'checkpoint', 'restore']);

/** The container (%CID%) and its sandbox (%ID%) a command line is about, as far as it says. */
function subject(ctx: Context, command: string, args: string[], flags: FlagSpecs): { cid?: string; id?: string } {
  if (!ID_COMMANDS.has(command)) return {};
  let values: Record<string, unknown>;
  let given: string | undefined;
  try {
    ({ values, positionals: [given] } = parseFlags(args, flags, { stopAtPositional: true }));
  } catch { return {}; } // the command says what is wrong with its flags
  if (given === undefined) return {};
  if (command === 'create' || command === 'run' || command === 'restore') {
    // A new container: its sandbox is what its config's annotations say (runsc reads the spec).
    let sandbox: string | null = null;
    try {
      const bundle = ctx.abs((values.bundle as string | undefined) ?? '.');
      const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
      sandbox = sandboxToJoin(spec.annotations);
    } catch { /* create says what is wrong with the bundle */ }
    return { cid: given, id: sandbox ?? given };
  }
  let cid = given;
  try { cid = ctx.id(given); } catch { /* ambiguous: the command says so */ }
  const saved = readState(containerDir(ctx.globals.root, cid));
  return { cid, ...(saved ? { id: sandboxOf(saved) } : {}) };
}

export async function openDebugLog(ctx: Context, o: { pattern?: string; fd?: number; format: 'text' | 'json'; command: string; args: string[]; flags: FlagSpecs; argv: string[] }): Promise<void> {
  const who = subject(ctx, o.command, o.args, o.flags);
  // A relative pattern is the caller's (the command may run in the daemon, elsewhere); a trailing / stays.
  const pattern = o.pattern === undefined ? '' : ctx.abs(o.pattern) + (o.pattern.endsWith('/') ? '/' : '');
  const log = o.fd !== undefined ? DebugLog.onFd(o.fd, o.format) : DebugLog.open(pattern, o.format, { command: o.command, id: who.id, cid: who.cid, time: new Date(ctx.startedAt) });
  ctx.debugLog = log;
  ctx.debugLogId = who.cid ?? null;
  const delim = '**************** runa ****************';
  log.write('info', delim);
  log.write('info', `Version ${VERSION} (${COMMIT}), node ${process.version}, ${process.arch}, PID ${process.pid}, PPID ${process.ppid}, UID ${process.getuid?.()}, GID ${process.getgid?.()}`);
  log.write('info', `Args: ${JSON.stringify(['runa', ...o.argv])}`);
  log.write('info', `Command: ${o.command}${who.cid ? `, container ${who.cid}` : ''}${who.id ? `, sandbox ${who.id}` : ''}`);
  log.write('info', delim);
}

/** Every request the command makes of the daemon, with its outcome and how long it took. */
export function logRequests(ctx: Context, client: BusClient): void {
  const log = ctx.debugLog;
  if (!log || (client as { logged?: boolean }).logged) return;
  const request = client.request.bind(client);
  Object.assign(client, {
    logged: true,
    rawRequest: request,
    request: async (body: Request) => {
      const t0 = performance.now();
      const what = `${body.type}${'id' in body ? ` ${body.id}` : ''}`;
      log.write('info', `request ${what}`);
      try {
        const r = await request(body);
        log.write('info', `request ${what}: done in ${(performance.now() - t0).toFixed(1)} ms`);
        return r;
      } catch (e) {
        log.write('info', `request ${what}: failed in ${(performance.now() - t0).toFixed(1)} ms: ${(e as Error).message}`);
        throw e;
      }
    },
  });
}

interface HistoryLine { at: number; actor: string; kind: string; type: string; from?: string; to?: string }

/** The daemon's history of the container since the command began, then the exit status; the log is closed. */
export async function finish(ctx: Context, status: number): Promise<void> {
  const log = ctx.debugLog;
  if (!log) return;
  ctx.debugLog = null;
  try {
    if (ctx.debugLogId) {
      try {
        // The daemon is asked only if it runs: a command that never reached it leaves it alone.
        const client = await ctx.connectIfRunning();
        if (client) {
          const raw = (client as { rawRequest?: BusClient['request'] }).rawRequest ?? client.request.bind(client);
          const d = await raw<{ events: HistoryLine[] }>({ type: 'container.debug', id: ctx.debugLogId, events: 256 });
          const since = d.events.filter((e) => e.at >= ctx.startedAt);
          log.write('info', `the daemon's history of ${ctx.debugLogId} while the command ran (${since.length} event(s), at their own times):`);
          for (const e of since) {
            log.write('info', e.kind === 'transition' ? `${e.actor} ${e.type}: ${e.from} → ${e.to}` : `${e.from} → ${e.to} ${e.type}`, 'daemon', new Date(e.at));
          }
          if (d.events.length === 256 && since.length === 256) log.write('info', '(the daemon keeps 256 events per container: earlier ones are gone)', 'daemon');
        }
      } catch (e) {
        log.write('info', `the daemon's history of ${ctx.debugLogId}: ${(e as Error).message}`);
      }
    }
    log.write('info', `Exiting with status: ${status}`);
  } finally {
    log.close();
  }
}
