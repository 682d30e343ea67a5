import type { Command } from '../command.js';
import { exactArgs, parseFlags, usage } from '../flags.js';
import { checkHistory, type RecordedStep } from '../../machines/conformance.js';

interface Machine { address: string; value: string; context: Record<string, unknown> }
interface Debug {
  id: string;
  status: string;
  sandbox: { id: string; value: string; status: string; members: string[] } | null;
  container: Machine & { monitorPid: number | null; initPid: number | null; linked: boolean; supervised: boolean };
  processes: Machine[];
  gofer: Machine;
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
  args: '<container-id>',
  description: 'The actor tree of the container: its sandbox, the container, its gofer, its init and exec\'d\nprocesses, each with its state and context, and the monitor\'s and init\'s PIDs.',
  flags: {
    events: { kind: 'string', usage: 'also print the container\'s last N events (0 to 256)', value: 'N', default: '0' },
    stacks: { kind: 'bool', usage: 'also print the daemon\'s async activity for the container: requests, its actors\' mailboxes, messages awaiting an answer, effects in flight' },
    format: { kind: 'string', alias: 'f', usage: 'select one of: table or json', default: 'table' },
    check: { kind: 'bool', usage: 'replay the container\'s recorded history against the machines: print each step the model forbids and exit 1 if there is one' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'debug');
    const format = (values.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw usage(`invalid format option "${format}"`);
    const eventsArg = values.events as string | undefined;
    const events = eventsArg === undefined ? 0 : Number(eventsArg);
    if (!Number.isInteger(events) || events < 0 || events > 256) throw usage(`invalid value "${eventsArg}" for flag -events: a number from 0 to 256`);
    const client = await ctx.connect();
    if (values.check) {
      const { events: history } = await client.request<{ events: RecordedStep[] }>({ type: 'container.history', id: positionals[0] });
      const bad = checkHistory(history);
      const steps = history.filter((e) => e.kind === 'transition').length;
      if (format === 'json') ctx.out(JSON.stringify({ id: positionals[0], steps, nonconforming: bad }) + '\n');
      else if (!bad.length) ctx.out(`${positionals[0]}: ${steps} recorded steps, each one the machines allow\n`);
      else for (const b of bad) ctx.out(`step ${b.index}: ${b.step.actor}  ${b.step.type}: ${b.step.from} → ${b.step.to}: ${b.why}\n`);
      return bad.length ? 1 : 0;
    }
    const d = await client.request<Debug>({ type: 'container.debug', id: positionals[0], events, ...(values.stacks ? { stacks: true } : {}) });
    if (format === 'json') {
      ctx.out(JSON.stringify(d) + '\n');
      return 0;
    }
    const out: string[] = [];
    const c = d.container;
    if (d.sandbox) out.push(`sandbox ${d.sandbox.id}: ${d.sandbox.value}${d.sandbox.members.length ? `  (members: ${d.sandbox.members.join(', ')})` : ''}`);
    out.push(`└─ container ${d.id}: ${c.value}  monitor ${c.monitorPid ?? '-'}${c.linked ? ' (linked)' : ''}, init ${c.initPid ?? '-'}${c.supervised ? ', supervised by the caller' : ''}${brief(c.context)}`);
    const children = [
      `gofer: ${d.gofer.value}${brief(d.gofer.context)}`,
      ...d.processes.map((p) => `${p.address.endsWith('/init') ? 'init' : `exec ${p.address.split('/')[1]}`}: ${p.value}${brief(p.context)}`),
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
