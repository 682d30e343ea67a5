import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';

const resume: Command = {
  summary: 'resumes all processes that have been previously paused',
  args: '<container-id>',
  description: 'Signals sent to the container while it was paused are delivered on resume.',
  flags: {},
  async run(ctx, args) {
    const { positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'resume');
    await (await ctx.connect()).request({ type: 'container.resume', id: ctx.id(positionals[0]) });
    return 0;
  },
};
export default resume;
