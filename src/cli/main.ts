// The Node.js command line (bin/runa.js). The native front end (native/runa) hands the
// commands that only talk to the daemon to the daemon itself, and execs this for the rest.
import { runCli } from './cli.js';

// Exit as soon as the command is done: nothing a CLI leaves behind (sockets closing,
// timers) is worth waiting for, and stdout/stderr writes are synchronous on Linux.
// runc exits 1 on errors, except where a command says otherwise (exec: 255).
void runCli(process.argv.slice(2)).then((code) => process.exit(code));
