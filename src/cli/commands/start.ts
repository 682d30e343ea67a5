import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';

const start: Command = {
  summary: 'executes the user defined process in a created container',
  args: '<container-id>',
  description: 'Runs the startContainer and poststart hooks and starts the process that create prepared.',
  flags: {},
  async run(ctx, args) {
    const { positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'start');
    const id = ctx.id(positionals[0]);
    const client = await ctx.connect();
    ctx.log('debug', `start ${id}: connected to the daemon`);
    await client.request({ type: 'container.start', id });
    ctx.log('debug', `start ${id}: the process runs (hooks done)`);
    return 0;
  },
};
export default start;
