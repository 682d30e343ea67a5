import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';
import { loadContainer } from '../../state.js';

const state: Command = {
  summary: 'output the state of a container',
  args: '<container-id>',
  description: 'The state of the container as the OCI runtime spec defines it (JSON). The sandbox it\nbelongs to is in `list`\'s SANDBOX column.',
  flags: {},
  async run(ctx, args) {
    const { positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'state');
    ctx.out(JSON.stringify(loadContainer(ctx.root, ctx.id(positionals[0])).state, null, 2) + '\n');
    return 0;
  },
};
export default state;
