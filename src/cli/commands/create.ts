import type { Command } from '../cli.js';
import { exactArgs, parseFlags } from '../flags.js';
import { createContainer, preserveFdsFlag } from '../lifecycle.js';

export const createFlags = {
  bundle: { kind: 'string', alias: 'b' },
  'pid-file': { kind: 'string' },
  'console-socket': { kind: 'string' },
  'no-pivot': { kind: 'bool', ignored: true },
  'no-new-keyring': { kind: 'bool', ignored: true },
  'preserve-fds': { kind: 'string' },
} as const;

const create: Command = {
  summary: 'create a container',
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, createFlags);
    exactArgs(positionals, 1, 'create');
    const { nsinit } = await createContainer(ctx, {
      id: positionals[0],
      bundle: (values.bundle as string | undefined) ?? '.',
      pidFile: values['pid-file'] as string | undefined,
      consoleSocket: values['console-socket'] as string | undefined,
      preserveFds: preserveFdsFlag(values['preserve-fds']),
    });
    nsinit.detach();
    return 0;
  },
};
export default create;
