import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';

const daemon: Command = {
  summary: 'run the daemon for this --root (commands start it on demand)',
  description: 'One daemon per state root holds the containers\' actors and serves <root>/runa.sock.',
  flags: {
    foreground: { kind: 'bool', usage: 'stay when idle (for systemd)' },
    'idle-timeout': { kind: 'string', usage: 'leave after this many ms with no container and no client', value: 'MS', default: '2000, or RUNA_DAEMON_IDLE_MS' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    if (positionals.length) throw usage('"daemon" takes no arguments');
    // The entry point gives the daemon (src/cli/main.ts, src/daemon/main.ts): it runs commands of this CLI.
    const { runDaemon } = ctx;
    if (!runDaemon) throw new RunaError('unsupported', 'the daemon cannot be run from here');
    const idle = values['idle-timeout'] ?? process.env.RUNA_DAEMON_IDLE_MS;
    // In the foreground (systemd) the daemon stays; started on demand, it leaves soon once it has
    // no container and no client: under a caller that is a child subreaper waiting for all its
    // descendants (conmon), a lingering daemon would hold the caller (and podman run --rm) up.
    const idleMs = values.foreground && idle === undefined ? null : Number(idle ?? 2_000);
    return runDaemon({ root: ctx.root, idleMs });
  },
};
export default daemon;
