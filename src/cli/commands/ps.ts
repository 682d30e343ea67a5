import { spawnSync } from 'node:child_process';
import type { Command } from '../main.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { loadContainer } from '../../state.js';
import { containerPids } from '../../proc.js';

const ps: Command = {
  summary: 'list the processes running inside a container (ps -ef, or --format json for host PIDs)',
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, { format: { kind: 'string', alias: 'f' } }, { stopAtPositional: true });
    const [id, ...psArgs] = positionals;
    if (!id) throw usage('ps: a container-id is required');
    const format = (values.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw usage(`invalid format option "${format}"`);
    const { saved, status } = loadContainer(ctx.root, id);
    // As runc: a created container shows its waiting init; a stopped one has no process (the header alone).
    const pids = saved.initPid && status !== 'stopped' ? containerPids(saved.initPid) : [];
    if (format === 'json') {
      process.stdout.write(JSON.stringify(pids) + '\n');
      return 0;
    }
    const out = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
    if (out.status !== 0) throw new RunaError('ps_failed', `ps: ${out.stderr.trim() || `exit status ${out.status}`}`);
    const lines = out.stdout.split('\n');
    const pidCol = lines[0].trim().split(/\s+/).indexOf('PID');
    if (pidCol < 0) throw new RunaError('ps_failed', "couldn't find PID field in ps output");
    const wanted = new Set(pids.map(String));
    process.stdout.write([lines[0], ...lines.slice(1).filter((l) => wanted.has(l.trim().split(/\s+/)[pidCol]))].join('\n') + '\n');
    return 0;
  },
};
export default ps;
