import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { listIds, loadContainer, sandboxOf } from '../../state.js';

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
    const found = listIds(ctx.root).flatMap((id) => {
      try { const c = loadContainer(ctx.root, id); return [{ ...c.state, sandbox: sandboxOf(c.saved) }]; } catch { return []; } // removed meanwhile
    });
    if (values.quiet) {
      ctx.out(found.map((s) => s.id + '\n').join(''));
    } else if (format === 'json') {
      // runc's containerState: its keys in its order, annotations left out when empty, and
      // `null` for no container at all (Go's nil slice).
      const json = found.map((s) => ({
        ociVersion: s.ociVersion, id: s.id, pid: s.pid, status: s.status, bundle: s.bundle, rootfs: s.rootfs, created: s.created,
        ...(Object.keys(s.annotations).length ? { annotations: s.annotations } : {}), owner: s.owner,
      }));
      ctx.out(JSON.stringify(json.length ? json : null) + '\n');
    } else {
      // runc's columns, then the sandbox (pod) each container belongs to.
      const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER', 'SANDBOX'],
        ...found.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner, s.sandbox])];
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      ctx.out(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('') + '\n').join(''));
    }
    return 0;
  },
};
export default list;
