import type { Command } from '../command.js';
import { exactArgs, parseFlags, usage } from '../flags.js';

/** A pid flag: -1 (runsc's "none") or a positive number. */
function pidFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '-1') return undefined;
  if (!/^[1-9]\d*$/.test(v)) throw usage(`invalid value "${v}" for flag -${name}: a positive PID (or -1 for none)`);
  return Number(v);
}

const wait: Command = {
  summary: 'wait for a container (or one of its processes) to exit and print its exit status',
  args: '<container-id>',
  description: 'Prints {"id":…,"exitStatus":…} once the container\'s init has exited (128+N if signal N\n'
    + 'killed it), and exits 0 (runsc). runc has no wait: runa adds it so that callers need not poll state.\n'
    + 'With --pid, waits for that process of the container instead: its init or a process `runa exec`\n'
    + 'started in it (also one that exited before the wait: its status is kept until one wait takes it);\n'
    + 'the output adds "pid". --rootpid is runsc\'s: the PID as the sandbox\'s root PID namespace shows it\n'
    + '(the pod\'s root container\'s), of a live process.',
  flags: {
    pid: { kind: 'string', usage: 'wait for this process of the container: its host PID (as `runa ps` and `exec --pid-file` give it)', value: 'PID', default: '-1' },
    rootpid: { kind: 'string', usage: 'wait for the process with this PID in the sandbox\'s root PID namespace (runsc)', value: 'PID', default: '-1' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'wait');
    const pid = pidFlag('pid', values.pid as string | undefined);
    const rootpid = pidFlag('rootpid', values.rootpid as string | undefined);
    if (pid !== undefined && rootpid !== undefined) throw usage('only one of -pid and -rootPid can be set');
    const id = ctx.id(positionals[0]);
    const client = await ctx.connect();
    if (pid === undefined && rootpid === undefined) {
      const r = await client.request<{ id: string; exitStatus: number }>({ type: 'container.wait', id });
      ctx.out(JSON.stringify({ id: r.id, exitStatus: r.exitStatus }) + '\n');
      return 0;
    }
    const r = await client.request<{ id: string; pid: number; exitStatus: number }>({
      type: 'container.waitPid', id, pid: (pid ?? rootpid)!, ...(rootpid !== undefined ? { rootNs: true } : {}),
    });
    ctx.out(JSON.stringify({ id: r.id, pid: pid ?? rootpid, exitStatus: r.exitStatus }) + '\n');
    return 0;
  },
};
export default wait;
