import type { Command } from '../cli.js';
import { exactArgs, parseFlags } from '../flags.js';

const resume: Command = {
  summary: 'thaw a paused container (signals sent meanwhile are delivered)',
  async run(ctx, args) {
    const { positionals } = parseFlags(args, {});
    exactArgs(positionals, 1, 'resume');
    await (await ctx.connect()).request({ type: 'container.resume', id: positionals[0] });
    return 0;
  },
};
export default resume;
