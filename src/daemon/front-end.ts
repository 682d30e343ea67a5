// Command lines run in the daemon on behalf of the native front end (native/runa.c): it sends
// its argv and cwd (`cli.run`) and prints what comes back. What must happen on the caller's
// side (spawning nsinit, its sync channel, waiting for it while passing signals on) the
// daemon asks the front end to do, one step at a time: a reply carries the next step, and
// the front end's `cli.step` carries what came of it. The command's code is the Node.js
// CLI's, with this Host. Commands that read the caller's stdin or environment or write
// files where it stands are answered `fallback`: the front end execs the Node.js CLI.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { constants } from 'node:os';
import { z } from 'zod';
import type { Bus, Session } from '../bus/bus.js';
import type { BusClient } from '../bus/client.js';
import type { Request } from '../bus/messages.js';
import { RunaError } from '../errors.js';
import { nsinitPath } from '../paths.js';
import type { Host, NsinitProcess } from '../cli/host.js';
import { COMMANDS, parseGlobals, runCli } from '../cli/cli.js';

/** Commands run in the daemon. (`spec`, `update`, `events`, `checkpoint`, `restore`, `ui`, `daemon`: the Node.js CLI.) */
export const IN_DAEMON = new Set(['do', 'create', 'run', 'exec', 'state', 'list', 'kill', 'delete', 'start', 'pause', 'resume', 'ps', 'wait', 'debug', 'features', 'completion']);

/**
 * The commands that start the daemon when none answers (each asks `ctx.connect()` for it).
 * The front end starts it itself for these (native/starts-daemon.h is generated from this
 * list by scripts/bundle.mjs) rather than going through the Node.js CLI, which would cost a
 * second Node.js start; for the rest it execs the CLI, which starts none.
 */
export const STARTS_DAEMON = ['do', 'create', 'run', 'exec', 'start', 'kill', 'delete', 'pause', 'resume', 'wait', 'debug'] as const;

/** A step the front end takes on the caller's side. */
export type Step =
  | { op: 'spawn'; argv: string[]; preserveFds: number }
  | { op: 'read' }
  | { op: 'write'; text: string }
  | { op: 'kill'; signal: number }
  | { op: 'wait' };

/** What came of it. */
export const StepResult = z.discriminatedUnion('ev', [
  z.object({ ev: z.literal('line'), text: z.string().max(65536) }),
  z.object({ ev: z.literal('eof') }),
  z.object({ ev: z.literal('failed'), message: z.string().max(4096) }),
  z.object({ ev: z.literal('done') }),
  z.object({ ev: z.literal('exited'), status: z.number().int().min(0).max(255) }),
  // The pid, and the first line nsinit wrote (what a `read` would have given next).
  z.object({
    ev: z.literal('spawned'), pid: z.number().int().positive(),
    first: z.discriminatedUnion('ev', [z.object({ ev: z.literal('line'), text: z.string().max(65536) }), z.object({ ev: z.literal('eof') })]),
  }),
]);
export type StepResult = z.infer<typeof StepResult>;

/** A reply to `cli.run` or `cli.step`: go to the Node.js CLI, a step to take, or the end. */
export type CliReply =
  | { fallback: true }
  | { session: string; step: Step; stdout: string; stderr: string }
  | { status: number; stdout: string; stderr: string };

/** The daemon's bus, as the client a command expects (errors as the socket client gives them). */
function localClient(bus: Bus): BusClient {
  const client = {
    request: (body: Request) => bus.request(body).catch((e: Error & { code?: string }) => {
      throw new RunaError(e.code ?? 'internal', e.message);
    }),
    on: () => { throw new RunaError('unsupported', 'events are not served to a command run in the daemon'); },
    closed: new Promise<void>(() => {}),
    close: () => {},
  };
  return client as unknown as BusClient;
}

/** One command line being run for one front end. */
class FrontEnd implements Host {
  readonly id = crypto.randomBytes(12).toString('hex');
  stdout = '';
  stderr = '';
  /** Steps are taken one at a time, in order. */
  private chain: Promise<unknown> = Promise.resolve();
  private outbox: CliReply | null = null;
  private taker: ((r: CliReply) => void) | null = null;
  private answer: { resolve(r: StepResult): void; reject(e: Error): void } | null = null;
  private gone: Error | null = null;

  /** Send the next reply: to the request waiting for it, or keep it for the next one. */
  private emit(r: CliReply): void {
    if (this.taker) { const t = this.taker; this.taker = null; t(r); } else this.outbox = r;
  }

  /** What the front end's pending request is answered with. */
  next(): Promise<CliReply> {
    if (this.outbox) { const r = this.outbox; this.outbox = null; return Promise.resolve(r); }
    return new Promise((resolve) => { this.taker = resolve; });
  }

  /** The front end answered the step it was given. */
  answered(r: StepResult): void {
    const a = this.answer;
    if (!a) throw new RunaError('invalid_message', 'cli.step: no step is waiting for an answer');
    this.answer = null;
    a.resolve(r);
  }

  /** Its connection closed: nothing it was asked will be answered. */
  lost(): void {
    this.gone = new RunaError('disconnected', 'the runa front end went away');
    this.answer?.reject(this.gone);
    this.answer = null;
  }

  /** The command is over: the last reply, once the steps it left (a detach) are taken. */
  finish(status: number, done: () => void): void {
    void this.chain.finally(() => {
      done();
      this.emit({ status, stdout: this.take('stdout'), stderr: this.take('stderr') });
    });
  }

  private take(which: 'stdout' | 'stderr'): string {
    const s = this[which];
    this[which] = '';
    return s;
  }

  ask(step: Step): Promise<StepResult> {
    const run = () => new Promise<StepResult>((resolve, reject) => {
      if (this.gone) return reject(this.gone);
      this.answer = { resolve, reject };
      this.emit({ session: this.id, step, stdout: this.take('stdout'), stderr: this.take('stderr') });
    });
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  async spawnNsinit(args: string[], preserveFds: number): Promise<NsinitProcess> {
    const r = await this.ask({ op: 'spawn', argv: [nsinitPath, ...args], preserveFds });
    if (r.ev !== 'spawned') throw new RunaError('create_failed', `starting nsinit (${nsinitPath}): ${r.ev === 'failed' ? r.message : r.ev}`);
    return new RemoteNsinit(this, r.pid, r.first.ev === 'line' ? r.first.text : null);
  }
}

class RemoteNsinit implements NsinitProcess {
  /** @param first the line the front end read right after spawning it */
  constructor(private readonly fe: FrontEnd, readonly pid: number, private first: string | null | undefined) {}
  async readLine(): Promise<string | null> {
    if (this.first !== undefined) {
      const line = this.first;
      this.first = undefined;
      return line;
    }
    const r = await this.fe.ask({ op: 'read' });
    return r.ev === 'line' ? r.text : null;
  }
  async writeLine(line: string): Promise<void> {
    await this.fe.ask({ op: 'write', text: `${line}\n` });
  }
  kill(signal: NodeJS.Signals): void {
    void this.fe.ask({ op: 'kill', signal: constants.signals[signal] }).catch(() => undefined);
  }
  async wait(): Promise<number> {
    const r = await this.fe.ask({ op: 'wait' });
    if (r.ev !== 'exited') throw new RunaError('protocol', `the runa front end answered ${r.ev} to wait`);
    return r.status;
  }
  /** Nothing to ask: the front end leaves it running when it exits (its sync channel with it). */
  detach(): void {}
}

export function serveCli(bus: Bus, root: string): void {
  const sessions = new Map<string, FrontEnd>();
  bus.handle('cli.run', async (req, env): Promise<CliReply> => {
    const fe = new FrontEnd();
    // The front end could not read its directory (it is gone): as process.cwd() fails for the CLI.
    const io = {
      out: (s: string) => { fe.stdout += s; },
      err: (s: string) => { fe.stderr += s; },
      get cwd(): string {
        if (req.cwd === null) throw new RunaError('cwd', 'ENOENT: no such file or directory, uv_cwd');
        return req.cwd;
      },
      env: Object.fromEntries((req.env ?? []).map((kv) => [kv.slice(0, Math.max(0, kv.indexOf('='))), kv.slice(kv.indexOf('=') + 1)]).filter(([k]) => k)),
    };
    let parsed: ReturnType<typeof parseGlobals>;
    try {
      parsed = parseGlobals(req.argv, io);
    } catch {
      return { fallback: true }; // a usage error in the global flags: the CLI words it
    }
    // (No command, `help` and an unknown one are answered here too.)
    if (parsed.name !== undefined && parsed.name in COMMANDS && !IN_DAEMON.has(parsed.name)) return { fallback: true };
    // An inherited fd to log to is the caller's, not the daemon's: the Node.js CLI writes to it.
    if (parsed.values['log-fd'] !== undefined || parsed.values['debug-log-fd'] !== undefined) return { fallback: true };
    // Only for this daemon's own root (a front end connected here because --root named it).
    let same = false;
    try { same = !parsed.globals.rootError && fs.realpathSync(parsed.globals.root) === root; } catch { /* no such root */ }
    if (!same || !env.session) return { fallback: true };
    sessions.set(fe.id, fe);
    (env.session as Session).onClose(() => { fe.lost(); sessions.delete(fe.id); });
    void runCli(req.argv, io, async () => localClient(bus), fe).then((status) => fe.finish(status, () => sessions.delete(fe.id)));
    return fe.next();
  });
  bus.handle('cli.step', async (req) => {
    const fe = sessions.get(req.session);
    if (!fe) throw new RunaError('not_exist', 'cli.step: no such command in progress');
    const r = StepResult.safeParse(req.result);
    if (!r.success) throw new RunaError('invalid_message', `cli.step: ${r.error.issues.map((i) => i.message).join('; ')}`);
    fe.answered(r.data);
    return fe.next();
  });
}
