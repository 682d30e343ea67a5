import type { Command } from '../cli.js';
import { exactArgs, parseFlags } from '../flags.js';
import { loadContainer } from '../../state.js';

const state: Command = {
  summary: 'output the state of a container',
  async run(ctx, args) {
    const { positionals } = parseFlags(args, {});
    exactArgs(positionals, 1, 'state');
    ctx.out(JSON.stringify(loadContainer(ctx.root, positionals[0]).state, null, 2) + '\n');
    return 0;
  },
};
export default state;
