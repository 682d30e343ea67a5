import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { parseSignal } from '../signals.js';
import { RunaError } from '../../errors.js';

const kill: Command = {
  summary: 'kill sends the specified signal (default: SIGTERM) to the container\'s init process',
  args: '<container-id> [signal]',
  description: 'The signal is a name (KILL, SIGKILL) or a number. --all sends it to every process of the\ncontainer; --pid to one of them.',
  flags: {
    all: { kind: 'bool', alias: 'a', usage: 'send the specified signal to all processes inside the container' },
    pid: { kind: 'string', usage: 'send the specified signal to this process of the container only (a host PID, as `runa ps` shows it)', value: 'PID' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    if (positionals.length < 1 || positionals.length > 2) throw usage('"kill" requires a container id and an optional signal');
    const signal = parseSignal(positionals[1] ?? 'SIGTERM');
    const pidArg = values.pid as string | undefined;
    if (pidArg !== undefined && !/^[1-9]\d*$/.test(pidArg)) throw new RunaError('invalid_argument', `PID (${pidArg}) must be positive`);
    const client = await ctx.connect();
    await client.request({ type: 'container.kill', id: ctx.id(positionals[0]), signal, all: Boolean(values.all), ...(pidArg ? { pid: Number(pidArg) } : {}) });
    return 0;
  },
};
export default kill;
