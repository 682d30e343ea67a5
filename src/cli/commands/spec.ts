import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../cli.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { defaultSpec } from '../../oci/default-spec.js';

const spec: Command = {
  summary: 'write runc\'s default config.json into the bundle (never overwrites)',
  async run(_ctx, args) {
    const { values, positionals } = parseFlags(args, { bundle: { kind: 'string', alias: 'b' }, rootless: { kind: 'bool', ignored: true } });
    if (positionals.length) throw usage('"spec" takes no arguments');
    const file = path.join((values.bundle as string | undefined) ?? '.', 'config.json');
    try {
      fs.writeFileSync(file, JSON.stringify(defaultSpec(), null, '\t') + '\n', { flag: 'wx', mode: 0o666 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new RunaError('exists', 'File config.json exists. Remove it first');
      throw e;
    }
    return 0;
  },
};
export default spec;
