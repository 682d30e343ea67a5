import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';
import { createContainer, preserveFdsFlag } from '../lifecycle.js';
import { createFlags, refuseCreateFlags } from './create.js';

const run: Command = {
  summary: 'create and run a container',
  args: '<container-id>',
  description: 'create and start in one step. Without --detach, runa waits for the container, passes\nthe signals it receives on, deletes it and exits with its status.',
  flags: {
    ...createFlags,
    detach: { kind: 'bool', alias: 'd', usage: 'detach from the container\'s process' },
    keep: { kind: 'bool', usage: 'do not delete the container after it exits' },
    // runa's monitor never makes itself a subreaper: what the flag asks for is always so.
    'no-subreaper': { kind: 'bool', usage: 'disable the use of the subreaper used to reap reparented processes (runa never uses one: the container\'s init, or its monitor\'s parent, reaps them)' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'run');
    refuseCreateFlags(values, 'run', ctx.abs((values.bundle as string | undefined) ?? '.'));
    const id = positionals[0];
    const client = await ctx.connect();
    let nsinit;
    try {
      ({ nsinit } = await createContainer(ctx, {
        id,
        bundle: (values.bundle as string | undefined) ?? '.',
        pidFile: values['pid-file'] as string | undefined,
        consoleSocket: values['console-socket'] as string | undefined,
        foreground: !values.detach,
        start: true,
        preserveFds: preserveFdsFlag(values['preserve-fds']),
        noNewKeyring: Boolean(values['no-new-keyring']),
        pidfdSocket: values['pidfd-socket'] as string | undefined,
        noPivot: Boolean(values['no-pivot']),
        userLog: values['user-log'] as string | undefined,
      }));
    } catch (e) {
      // A failed start leaves a created container behind: run removes it, like runc.
      if (!values.keep && (e as { code?: string }).code !== 'exists') {
        await client.request({ type: 'container.delete', id, force: true }).catch(() => undefined);
      }
      throw e;
    }
    if (values.detach) {
      nsinit.detach();
      return 0;
    }
    const status = await nsinit.wait();
    if (!values.keep) await client.request({ type: 'container.delete', id, force: true }).catch(() => undefined);
    return status;
  },
};
export default run;
