import type { Command } from '../cli.js';
import { exactArgs, parseFlags } from '../flags.js';

const start: Command = {
  summary: 'start a created container',
  async run(ctx, args) {
    const { positionals } = parseFlags(args, {});
    exactArgs(positionals, 1, 'start');
    const client = await ctx.connect();
    ctx.log('debug', `start ${positionals[0]}: connected to the daemon`);
    await client.request({ type: 'container.start', id: positionals[0] });
    ctx.log('debug', `start ${positionals[0]}: the process runs (hooks done)`);
    return 0;
  },
};
export default start;
