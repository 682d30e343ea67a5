import type { Command } from '../main.js';
import { exactArgs, parseFlags, usage } from '../flags.js';

interface Machine { address: string; value: string; context: Record<string, unknown> }
interface Debug {
  id: string;
  status: string;
  sandbox: { id: string; value: string; status: string; members: string[] } | null;
  container: Machine & { monitorPid: number | null; initPid: number | null; linked: boolean; supervised: boolean };
  processes: Machine[];
  gofer: Machine;
  events: Array<{ at: number; actor: string; kind: string; type: string; from?: string; to?: string }>;
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
  summary: "[--events N] [--format table|json] ID: a container's actors (sandbox, container, gofer, processes) with their states and contexts, its monitor, and its last N events (runsc's debug)",
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, { events: { kind: 'string' }, format: { kind: 'string', alias: 'f' } });
    exactArgs(positionals, 1, 'debug');
    const format = (values.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw usage(`invalid format option "${format}"`);
    const eventsArg = values.events as string | undefined;
    const events = eventsArg === undefined ? 0 : Number(eventsArg);
    if (!Number.isInteger(events) || events < 0 || events > 256) throw usage(`invalid value "${eventsArg}" for flag -events: a number from 0 to 256`);
    const client = await ctx.connect();
    const d = await client.request<Debug>({ type: 'container.debug', id: positionals[0], events });
    if (format === 'json') {
      process.stdout.write(JSON.stringify(d) + '\n');
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
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};
export default debug;
