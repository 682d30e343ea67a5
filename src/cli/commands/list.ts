import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { listIds, loadContainer, SANDBOX_ID_ANNOTATION } from '../../state.js';

const list: Command = {
  summary: 'lists containers started by runa with the given root',
  description: 'Where the given root is specified via the global option "--root". The SANDBOX column\nnames the sandbox (pod) each container belongs to.',
  flags: {
    format: { kind: 'string', alias: 'f', usage: 'select one of: table or json', default: 'table' },
    quiet: { kind: 'bool', alias: 'q', usage: 'display only container IDs' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    if (positionals.length) throw usage('"list" takes no arguments');
    const format = (values.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw usage(`invalid format option "${format}"`);
    const states = listIds(ctx.root).flatMap((id) => {
      try { return [loadContainer(ctx.root, id).state]; } catch { return []; } // removed meanwhile
    });
    if (values.quiet) {
      ctx.out(states.map((s) => s.id + '\n').join(''));
    } else if (format === 'json') {
      ctx.out(JSON.stringify(states) + '\n');
    } else {
      // runc's columns, then the sandbox (pod) each container belongs to.
      const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER', 'SANDBOX'],
        ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner, s.annotations[SANDBOX_ID_ANNOTATION]])];
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      ctx.out(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('') + '\n').join(''));
    }
    return 0;
  },
};
export default list;
