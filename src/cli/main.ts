// The Node.js command line (bin/runa.js). The native front end (native/runa) hands the
// commands that only talk to the daemon to the daemon itself, and execs this for the rest.
import { runCli } from './cli.js';
import { processIO, type RunDaemon } from './context.js';

// The front end hides NODE_EXTRA_CA_CERTS from Node.js's start (native/runa.c): put it back
// for what this starts (`do` gives the environment to its container). Not the daemon: see
// Context.startDaemon.
if (process.env.RUNA_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.RUNA_NODE_EXTRA_CA_CERTS;
  delete process.env.RUNA_NODE_EXTRA_CA_CERTS;
}

// `runa daemon` here (the daemon is usually started through bin/runa-daemon.cjs): loaded only then.
const runDaemon: RunDaemon = async (opts) => (await import('../daemon/daemon.js')).runDaemon(opts);

// Exit as soon as the command is done: nothing a CLI leaves behind (sockets closing,
// timers) is worth waiting for, and stdout/stderr writes are synchronous on Linux.
// runc exits 1 on errors, except where a command says otherwise (exec: 255).
void runCli(process.argv.slice(2), processIO, undefined, undefined, runDaemon).then((code) => process.exit(code));
