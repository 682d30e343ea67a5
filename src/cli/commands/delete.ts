import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';

const del: Command = {
  summary: 'delete any resources held by the container often used with detached container',
  args: '<container-id> [container-id...]',
  description: 'Deleting the root container of a sandbox stops and deletes its members first.',
  flags: {
    force: { kind: 'bool', alias: 'f', usage: 'Forcibly deletes the container if it is still running (uses SIGKILL)' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    if (positionals.length < 1) throw usage('"delete" requires at least one container id');
    const client = await ctx.connect();
    const force = Boolean(values.force);
    for (const given of positionals) {
      try {
        // --force is the callers' idempotent cleanup (containerd, podman): exact ids only, so that
        // an id already gone never stands for a longer one that has it as its prefix.
        const id = force ? given : ctx.id(given);
        const { warnings } = await client.request<{ warnings?: string[] }>({ type: 'container.delete', id, force });
        for (const w of warnings ?? []) ctx.err(`warning: ${w}\n`);
        ctx.log('debug', `delete ${id}: state, cgroups and mounts removed`);
      } catch (e) {
        // runc: deleting a missing container with --force is not an error.
        if (force && e instanceof RunaError && e.code === 'not_exist') continue;
        throw e;
      }
    }
    return 0;
  },
};
export default del;
