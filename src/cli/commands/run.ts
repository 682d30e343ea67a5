import type { Command } from '../main.js';
import { exactArgs, parseFlags } from '../flags.js';
import { createContainer, forwardSignals, preserveFdsFlag, waitChild } from '../lifecycle.js';
import { createFlags } from './create.js';

const run: Command = {
  summary: 'create and start a container; without --detach, wait for it, delete it and exit with its status',
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, { ...createFlags, detach: { kind: 'bool', alias: 'd' }, keep: { kind: 'bool' } });
    exactArgs(positionals, 1, 'run');
    const id = positionals[0];
    const client = await ctx.connect();
    let child;
    try {
      ({ child } = await createContainer(ctx, {
        id,
        bundle: (values.bundle as string | undefined) ?? process.cwd(),
        pidFile: values['pid-file'] as string | undefined,
        consoleSocket: values['console-socket'] as string | undefined,
        foreground: !values.detach,
        start: true,
        preserveFds: preserveFdsFlag(values['preserve-fds']),
      }));
    } catch (e) {
      // A failed start leaves a created container behind: run removes it, like runc.
      if (!values.keep && (e as { code?: string }).code !== 'exists') {
        await client.request({ type: 'container.delete', id, force: true }).catch(() => undefined);
      }
      throw e;
    }
    const stopForwarding = values.detach ? () => {} : forwardSignals(child);
    if (values.detach) {
      child.unref();
      return 0;
    }
    const status = await waitChild(child);
    stopForwarding();
    if (!values.keep) await client.request({ type: 'container.delete', id, force: true }).catch(() => undefined);
    return status;
  },
};
export default run;
