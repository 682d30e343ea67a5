import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { defaultSpec, rootlessSpec } from '../../oci/default-spec.js';

const spec: Command = {
  summary: 'create a new specification file',
  description: 'Writes runc\'s default config.json into the bundle directory; an existing one is never\noverwritten.',
  flags: {
    bundle: { kind: 'string', alias: 'b', usage: 'path to the root of the bundle directory', default: '.' },
    rootless: { kind: 'bool', usage: 'generate a configuration for a rootless container' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    if (positionals.length) throw usage('"spec" takes no arguments');
    const bundle = ctx.abs((values.bundle as string | undefined) ?? '.');
    // runc chdirs into the bundle first: its words when that fails.
    let st: fs.Stats;
    try { st = fs.statSync(bundle); } catch (e) {
      throw new RunaError('invalid_bundle', `chdir ${values.bundle ?? '.'}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    if (!st.isDirectory()) throw new RunaError('invalid_bundle', `chdir ${values.bundle}: not a directory`);
    const file = path.join(bundle, 'config.json');
    try {
      fs.writeFileSync(file, JSON.stringify(values.rootless ? rootlessSpec(process.geteuid!(), process.getegid!()) : defaultSpec(), null, '\t') + '\n', { flag: 'wx', mode: 0o666 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new RunaError('exists', 'File config.json exists. Remove it first');
      throw e;
    }
    return 0;
  },
};
export default spec;
