import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';

const wait: Command = {
  summary: 'wait for a container to exit and print its exit status',
  args: '<container-id>',
  description: 'Prints {"id":…,"exitStatus":…} once the container\'s init has exited (128+N if signal N\nkilled it). runc has no wait: runa adds it so that callers need not poll state.',
  flags: {},
  async run(ctx, args) {
    const { positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'wait');
    const client = await ctx.connect();
    const r = await client.request<{ id: string; exitStatus: number }>({ type: 'container.wait', id: positionals[0] });
    ctx.out(JSON.stringify({ id: r.id, exitStatus: r.exitStatus }) + '\n');
    return 0;
  },
};
export default wait;
