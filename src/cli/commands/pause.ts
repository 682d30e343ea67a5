import type { Command } from '../cli.js';
import { exactArgs, parseFlags } from '../flags.js';

const pause: Command = {
  summary: 'freeze every process of a container (cgroup freezer)',
  async run(ctx, args) {
    const { positionals } = parseFlags(args, {});
    exactArgs(positionals, 1, 'pause');
    await (await ctx.connect()).request({ type: 'container.pause', id: positionals[0] });
    return 0;
  },
};
export default pause;
