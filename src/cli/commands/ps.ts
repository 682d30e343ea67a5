import { execFile } from 'node:child_process';
import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { listIds, loadContainer, readState } from '../../state.js';
import { containerDir } from '../../paths.js';

/** The containers of sandbox `id`, root first: the ones whose state names it. */
function sandboxMembers(root: string, id: string): string[] {
  const members = listIds(root).filter((m) => loadContainerSandbox(root, m) === id);
  if (!members.length) throw new RunaError('not_exist', `sandbox "${id}" does not exist`);
  return members.sort((a, b) => Number(b === id) - Number(a === id));
}

function loadContainerSandbox(root: string, id: string): string | undefined {
  const saved = readState(containerDir(root, id));
  return saved ? (saved.sandbox ?? saved.id) : undefined;
}
import { containerPids } from '../../proc.js';

const ps: Command = {
  summary: 'ps displays the processes running inside a container',
  args: '<container-id> [ps options]',
  description: 'The table is `ps -ef` (or the ps options given) filtered to the container\'s processes;\n--format json gives their host PIDs.',
  flags: {
    format: { kind: 'string', alias: 'f', usage: 'select one of: table or json', default: 'table' },
    sandbox: { kind: 'bool', usage: 'the id is a sandbox\'s: every container of that pod (json: by container)' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags, { stopAtPositional: true });
    const [id, ...psArgs] = positionals;
    if (!id) throw usage('ps: a container-id is required');
    const format = (values.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw usage(`invalid format option "${format}"`);
    // --sandbox: every container of the pod whose sandbox id (its root container's id) is given.
    const full = ctx.id(id);
    const members = values.sandbox ? sandboxMembers(ctx.root, full) : [full];
    const byContainer: Record<string, number[]> = {};
    for (const m of members) {
      const { saved, status } = loadContainer(ctx.root, m);
      // As runc: a created container shows its waiting init; a stopped one has no process (the header alone).
      byContainer[m] = saved.initPid && status !== 'stopped' ? containerPids(saved.initPid) : [];
    }
    const pids = [...new Set(Object.values(byContainer).flat())];
    if (format === 'json') {
      ctx.out(JSON.stringify(values.sandbox ? byContainer : pids) + '\n');
      return 0;
    }
    // Not spawnSync: this may run in the daemon (src/daemon/front-end.ts), which must not block.
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, out, errOut) => {
        if (err) reject(new RunaError('ps_failed', `ps: ${errOut.trim() || (typeof err.code === 'number' ? `exit status ${err.code}` : err.message)}`));
        else resolve(out);
      });
    });
    const lines = stdout.split('\n');
    const pidCol = lines[0].trim().split(/\s+/).indexOf('PID');
    if (pidCol < 0) throw new RunaError('ps_failed', "couldn't find PID field in ps output");
    const wanted = new Set(pids.map(String));
    ctx.out([lines[0], ...lines.slice(1).filter((l) => wanted.has(l.trim().split(/\s+/)[pidCol]))].join('\n') + '\n');
    return 0;
  },
};
export default ps;
