import type { Command } from '../command.js';
import type { Context } from '../context.js';
import { parseFlags, usage } from '../flags.js';
import { checkHistory, type RecordedStep } from '../../machines/conformance.js';
import { parseSignal } from '../signals.js';
import { parseDuration } from './events.js';
import { RunaError } from '../../errors.js';
import { listIds, loadContainer, sandboxOf } from '../../state.js';
import { containerPids } from '../../proc.js';

/**
 * runsc's `debug --pid`: the container that holds the process: its init's monitor, its init, or
 * one of its processes. Pod members first: a sandbox's root that owns its pid namespace sees
 * its members' processes too.
 */
function containerWithPid(ctx: Context, pid: number): string {
  const found = listIds(ctx.root).flatMap((id) => {
    try { return [loadContainer(ctx.root, id)]; } catch { return []; } // removed meanwhile
  }).filter(({ status }) => status !== 'stopped');
  const members = [...found.filter((c) => sandboxOf(c.saved) !== c.saved.id), ...found.filter((c) => sandboxOf(c.saved) === c.saved.id)];
  for (const { saved } of members) if (saved.monitorPid === pid || saved.initPid === pid) return saved.id;
  for (const { saved } of members) if (saved.initPid && containerPids(saved.initPid).includes(pid)) return saved.id;
  throw new RunaError('not_exist', `container with PID ${pid} not found`);
}

interface Machine { address: string; value: string; context: Record<string, unknown> }
interface Debug {
  id: string;
  status: string;
  sandbox: { id: string; value: string; status: string; members: string[] } | null;
  /** the container's actors; while its create runs, the create's own actor and its gofer instead */
  container?: Machine & { monitorPid: number | null; initPid: number | null; linked: boolean; supervised: boolean };
  processes?: Machine[];
  create?: Machine;
  gofer: Machine | null;
  events: Array<{ at: number; actor: string; kind: string; type: string; from?: string; to?: string }>;
  activity?: {
    requests: Array<{ type: string; cid: string; ms: number }>;
    /** each of its actors' mailbox with something in it: what it handles, what waits (oldest first) */
    mailboxes?: Array<{ address: string; handling: Array<{ type: string; from: string; ms: number }>; queued: Array<{ type: string; from: string; ms: number }> }>;
    messages: Array<{ type: string; from: string; to: string; ms: number }>;
    effects: Array<{ actor: string; effect: string; ticket: number; state: string; ms: number }>;
    children: Array<{ actor: string; src: string; sessionId: string }>;
  };
}

/** The async activity as `--stacks` prints it: one line per thing in flight, or why none. */
function activityLines(a: NonNullable<Debug['activity']>): string[] {
  const out = ['', 'async activity in the daemon:'];
  for (const r of a.requests) out.push(`  request   ${r.type} (client request ${r.cid}), ${r.ms} ms`);
  for (const m of a.mailboxes ?? []) {
    for (const h of m.handling) out.push(`  mailbox   ${m.address} handling ${h.type} (from ${h.from}), ${h.ms} ms`);
    for (const q of m.queued) out.push(`  mailbox   ${m.address} queued ${q.type} (from ${q.from}), ${q.ms} ms`);
  }
  for (const m of a.messages) out.push(`  awaiting  ${m.from} → ${m.to} ${m.type}, ${m.ms} ms`);
  for (const e of a.effects) out.push(`  effect    ${e.actor} ${e.effect} #${e.ticket} ${e.state}, ${e.ms} ms`);
  for (const c of a.children) out.push(`  child     ${c.actor} ${c.src} (actor ${c.sessionId})`);
  if (out.length === 2) out.push('  none: its actors are idle');
  return out;
}

/** A context as one line: its fields that say something (nulls and empty lists left out). */
function brief(context: Record<string, unknown>): string {
  const parts = Object.entries(context ?? {})
    .filter(([k, v]) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0) && k !== 'id' && k !== 'role')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return parts.length ? `  {${parts.join(', ')}}` : '';
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

const debug: Command = {
  summary: 'shows a container\'s actors, their states, its monitor and its recent events (runsc\'s debug)',
  args: '<container-id> | --pid PID',
  description: 'The actor tree of the container: its sandbox, the container, its gofer, its init and exec\'d\nprocesses, each with its state and context, and the monitor\'s and init\'s PIDs (while its create\nruns: the create\'s own actor and its gofer).\n'
    + 'Before it, in runsc\'s order: --signal sends a signal to the container\'s init, --profile-cpu and\n'
    + '--profile-heap profile the daemon (through node:inspector) into files Chrome DevTools opens,\n'
    + '--trace writes the container\'s actors as a Chrome trace (runsc\'s --trace takes a Go execution trace\n'
    + 'of its sandbox; runa\'s sandbox is its actors), for --duration from now on or as its history holds it.',
  flags: {
    events: { kind: 'string', usage: 'also print the container\'s last N events (0 to 256)', value: 'N', default: '0' },
    stacks: { kind: 'bool', usage: 'also print the daemon\'s async activity for the container: requests, its actors\' mailboxes, messages awaiting an answer, effects in flight' },
    format: { kind: 'string', alias: 'f', usage: 'select one of: table or json', default: 'table' },
    check: { kind: 'bool', usage: 'replay the container\'s recorded history against the machines: print each step the model forbids and exit 1 if there is one' },
    pid: { kind: 'string', usage: 'the container holding this process (runsc): its monitor, its init or any of its processes, by host PID; then no container id is given', value: 'PID', default: '0' },
    signal: { kind: 'string', usage: 'send this signal (a number or a name) to the container\'s init, the process that stands for runsc\'s sandbox, before printing (runsc)', value: 'SIGNAL', default: '-1' },
    'profile-cpu': { kind: 'string', usage: 'write a CPU profile of the daemon, taken over --duration, to this file (a .cpuprofile Chrome DevTools reads)', value: 'FILE' },
    'profile-heap': { kind: 'string', usage: 'write a heap snapshot of the daemon, after --delay, to this file (a .heapsnapshot Chrome DevTools reads)', value: 'FILE' },
    trace: { kind: 'string', usage: 'write the container\'s actors as a Chrome trace (JSON Perfetto and chrome://tracing open) to this file: each actor\'s states with their durations, its transitions and the messages it received; what the container\'s history holds now, or with --duration what happens from now on for that long (or until the container is deleted)', value: 'FILE' },
    duration: { kind: 'string', usage: 'how long --profile-cpu profiles (default 1m), and how long --trace records from now on (without it, --trace writes the history kept) (runsc)', value: 'DURATION' },
    delay: { kind: 'string', usage: 'how long to wait before --profile-heap takes its snapshot (runsc)', value: 'DURATION', default: '0s' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    const pidArg = values.pid as string | undefined;
    const byPid = pidArg !== undefined && pidArg !== '0';
    if (byPid && !/^[1-9]\d*$/.test(pidArg)) throw usage(`invalid value "${pidArg}" for flag -pid: a positive PID`);
    if (byPid && positionals.length !== 0) throw usage('container ID should not be provided when -pid is set');
    if (!byPid && positionals.length !== 1) throw usage('container ID should be provided when -pid is not set');
    const format = (values.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw usage(`invalid format option "${format}"`);
    const eventsArg = values.events as string | undefined;
    const events = eventsArg === undefined ? 0 : Number(eventsArg);
    if (!Number.isInteger(events) || events < 0 || events > 256) throw usage(`invalid value "${eventsArg}" for flag -events: a number from 0 to 256`);
    const signalArg = values.signal as string | undefined;
    const signal = signalArg === undefined || signalArg === '-1' ? null : parseSignal(signalArg);
    if (signal === 0) throw usage('invalid value "0" for flag -signal: signal 0 sends nothing (-1 for none)');
    // Durations only where they apply: never a flag that does nothing.
    if (values.duration !== undefined && values['profile-cpu'] === undefined && values.trace === undefined) throw usage('-duration applies to -profile-cpu and -trace only');
    if (values.delay !== undefined && values['profile-heap'] === undefined) throw usage('-delay applies to -profile-heap only');
    const durationMs = values.duration === undefined ? 60_000 : Math.max(1, Math.round(parseDuration(values.duration as string)));
    const delayMs = values.delay === undefined || values.delay === '0s' || values.delay === '0' ? 0 : Math.round(parseDuration(values.delay as string));
    if (durationMs > 3_600_000 || delayMs > 3_600_000) throw usage('-duration and -delay: at most 1h');
    const traceMs = values.trace !== undefined && values.duration !== undefined ? durationMs : 0;
    if (values.trace === '') throw usage('-trace needs a file name');
    if (values.check && values.trace !== undefined) throw usage('-check prints the history\'s replay only: not with -trace');
    const profiles = [
      ...(values['profile-cpu'] !== undefined ? [{ kind: 'cpu' as const, file: ctx.abs(values['profile-cpu'] as string), ms: durationMs }] : []),
      ...(values['profile-heap'] !== undefined ? [{ kind: 'heap' as const, file: ctx.abs(values['profile-heap'] as string), ms: delayMs }] : []),
    ];
    const id = byPid ? containerWithPid(ctx, Number(pidArg)) : ctx.id(positionals[0]);
    const client = await ctx.connect();
    if (values.check) {
      const { events: history } = await client.request<{ events: RecordedStep[] }>({ type: 'container.history', id });
      const bad = checkHistory(history);
      const steps = history.filter((e) => e.kind === 'transition').length;
      if (format === 'json') ctx.out(JSON.stringify({ id, steps, nonconforming: bad }) + '\n');
      else if (!bad.length) ctx.out(`${id}: ${steps} recorded steps, each one the machines allow\n`);
      else for (const b of bad) ctx.out(`step ${b.index}: ${b.step.actor}  ${b.step.type}: ${b.step.from} → ${b.step.to}: ${b.why}\n`);
      return bad.length ? 1 : 0;
    }
    if (signal !== null) {
      // runsc signals its sandbox process, which stands for the whole sandbox: runa's is the container's init.
      const { status, saved } = loadContainer(ctx.root, id);
      if (status !== 'running' && status !== 'paused') throw new RunaError('not_running', 'container sandbox is not running');
      await client.request({ type: 'container.kill', id, signal });
      ctx.err(`Sending signal ${signal} to process: ${saved.initPid}\n`);
    }
    // The trace is taken over the same time as the CPU profile (runsc takes both over --duration).
    let deleted = false;
    const trace = values.trace === undefined ? null : (async () => {
      const file = ctx.abs(values.trace as string);
      const r = await client.request<{ events: number; entries: number; bytes: number; ended: string }>({ type: 'container.trace', id, file, ms: traceMs });
      deleted = r.ended === 'deleted';
      const why = deleted ? ', until the container was deleted' : r.ended === 'limit' ? ', stopped at its limit of entries' : '';
      ctx.err(`Trace of container ${id} written to ${file} (${r.entries} history entries${why}: ${r.events} trace events, ${r.bytes} bytes)\n`);
    })();
    const profiled = (async () => {
      for (const p of profiles) {
        const r = await client.request<{ bytes: number }>({ type: 'daemon.profile', kind: p.kind, file: p.file, ms: p.ms });
        ctx.err(`${p.kind === 'cpu' ? 'CPU profile' : 'Heap snapshot'} of the daemon written to ${p.file} (${r.bytes} bytes)\n`);
      }
    })();
    // Both settle before an error is reported: no request is left running behind the command.
    const outcomes = await Promise.allSettled([trace, profiled]);
    for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
    // Its actors are gone with it: nothing left to show.
    if (deleted) return 0;
    const d = await client.request<Debug>({ type: 'container.debug', id, events, ...(values.stacks ? { stacks: true } : {}) });
    if (format === 'json') {
      ctx.out(JSON.stringify(d) + '\n');
      return 0;
    }
    const out: string[] = [];
    const c = d.container;
    if (d.sandbox) out.push(`sandbox ${d.sandbox.id}: ${d.sandbox.value}${d.sandbox.members.length ? `  (members: ${d.sandbox.members.join(', ')})` : ''}`);
    if (c) out.push(`└─ container ${d.id}: ${c.value}  monitor ${c.monitorPid ?? '-'}${c.linked ? ' (linked)' : ''}, init ${c.initPid ?? '-'}${c.supervised ? ', supervised by the caller' : ''}${brief(c.context)}`);
    else if (d.create) out.push(`└─ create ${d.id}: ${d.create.value}${brief(d.create.context)}`);
    const children = [
      ...(d.gofer ? [`gofer: ${d.gofer.value}${brief(d.gofer.context)}`] : []),
      ...(d.processes ?? []).map((p) => `${p.address.endsWith('/init') ? 'init' : `exec ${p.address.split('/')[1]}`}: ${p.value}${brief(p.context)}`),
    ];
    children.forEach((line, i) => out.push(`   ${i === children.length - 1 ? '└─' : '├─'} ${line}`));
    if (events) {
      out.push('', `last ${d.events.length} event(s):`);
      for (const e of d.events) {
        out.push(e.kind === 'transition'
          ? `  ${time(e.at)}  ${e.actor}  ${e.type}: ${e.from} → ${e.to}`
          : `  ${time(e.at)}  ${e.from} → ${e.to}  ${e.type}`);
      }
    }
    if (d.activity) out.push(...activityLines(d.activity));
    ctx.out(out.join('\n') + '\n');
    return 0;
  },
};
export default debug;
