import type { Command } from '../main.js';
import { exactArgs, parseFlags } from '../flags.js';
import { notExist } from '../../errors.js';
import { containerDir } from '../../paths.js';
import { liveStatus, ociState, readState } from '../../state.js';

/** Answered from disk and the monitor's truth: no daemon needed. */
export function loadState(root: string, id: string) {
  const dir = containerDir(root, id);
  const saved = /^[A-Za-z0-9_+.-]+$/.test(id) && id !== '.' && id !== '..' ? readState(dir) : null;
  if (!saved) throw notExist();
  return ociState(saved, liveStatus(dir, saved).status);
}

const state: Command = {
  summary: 'output the state of a container',
  async run(ctx, args) {
    const { positionals } = parseFlags(args, {});
    exactArgs(positionals, 1, 'state');
    process.stdout.write(JSON.stringify(loadState(ctx.root, positionals[0]), null, 2) + '\n');
    return 0;
  },
};
export default state;
