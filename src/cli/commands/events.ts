import type { Command } from '../command.js';
import { exactArgs, parseFlags, usage } from '../flags.js';
import { eventLine } from '../../cgroups/stats-json.js';

/** Go-style durations as runc takes them: 5s, 100ms, 1m, 1h30m. */
export function parseDuration(s: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = s;
  const re = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;
  if (!rest) throw usage(`invalid duration "${s}"`);
  while (rest) {
    const m = re.exec(rest);
    if (!m) throw usage(`invalid duration "${s}"`);
    total += Number(m[1]) * units[m[2]];
    rest = rest.slice(m[0].length);
  }
  if (total <= 0) throw usage('duration interval must be greater than 0');
  return total;
}

const events: Command = {
  summary: 'display container events such as OOM notifications, cpu, memory, and IO usage statistics',
  args: '<container-id>',
  description: 'One JSON object per line until the container is deleted.',
  flags: {
    interval: { kind: 'string', usage: 'set the stats collection interval', default: '5s' },
    stats: { kind: 'bool', usage: 'display the container\'s stats then exit' },
    sandbox: { kind: 'bool', usage: 'the id is a sandbox\'s: events of every container in that pod' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'events');
    const id = ctx.id(positionals[0]);
    const sandbox = Boolean(values.sandbox);
    if (sandbox && values.stats) throw usage('events: --stats takes a container, not a --sandbox');
    const client = await ctx.connect();
    if (values.stats) {
      const ev = await client.request({ type: 'container.stats', id });
      ctx.out(eventLine(ev) + '\n');
      return 0;
    }
    const interval = parseDuration((values.interval as string | undefined) ?? '5s');
    const done = new Promise<void>((resolve) => {
      client.on(sandbox ? `events:sandbox:${id}` : `events:${id}`, (ev) => {
        if ((ev as { type: string }).type === 'end') return resolve();
        // a failed stats read: on stderr, and the stream goes on (runc logs it and goes on)
        if ((ev as { type: string }).type === 'error') return ctx.err(`${(ev as { message?: unknown }).message}\n`);
        let line: string;
        try {
          line = eventLine(ev);
        } catch (e) {
          return ctx.err(`${(e as Error).message}\n`);
        }
        ctx.out(line + '\n');
      });
      void client.closed.then(resolve);
    });
    await client.request({ type: 'container.events', id, interval: Math.max(10, Math.round(interval)), sandbox });
    await done;
    return 0;
  },
};
export default events;
