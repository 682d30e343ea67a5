import type { Command } from '../cli.js';
import { parseFlags, usage } from '../flags.js';
import { parseSignal } from '../signals.js';

const kill: Command = {
  summary: 'send a signal (default SIGTERM) to a container\'s init, or with --all to all its processes',
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, { all: { kind: 'bool', alias: 'a' }, pid: { kind: 'string', ignored: true } });
    if (positionals.length < 1 || positionals.length > 2) throw usage('"kill" requires a container id and an optional signal');
    const signal = parseSignal(positionals[1] ?? 'SIGTERM');
    const client = await ctx.connect();
    await client.request({ type: 'container.kill', id: positionals[0], signal, all: Boolean(values.all) });
    return 0;
  },
};
export default kill;
