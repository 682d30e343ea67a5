import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';

const pause: Command = {
  summary: 'pause suspends all processes inside the container',
  args: '<container-id>',
  description: 'Every process of the container is frozen (the cgroup freezer). Pausing the root\ncontainer of a sandbox pauses the whole sandbox.',
  flags: {},
  async run(ctx, args) {
    const { positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'pause');
    await (await ctx.connect()).request({ type: 'container.pause', id: ctx.id(positionals[0]) });
    return 0;
  },
};
export default pause;
