import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { createContainer } from '../lifecycle.js';
import type { Context } from '../context.js';
import { DEFAULT_DO_IP } from '../do-ip.js';

/** do's networks: only loopback; the runtime's (the host's); or runsc's own link with NAT (--ip). */
type DoNetworkType = 'none' | 'host' | 'sandbox';

/** The spec for `do`: the host's root (or --root) read-only under an in-memory writable layer. */
export function doSpec(opts: { root: string; cwd: string; args: string[]; network: DoNetworkType; env: NodeJS.ProcessEnv }) {
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (opts.network !== 'host') namespaces.push({ type: 'network' });
  return {
    ociVersion: '1.2.0',
    root: { path: opts.root, readonly: false },
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: opts.args,
      env: Object.entries(opts.env).filter(([k]) => !k.includes('=')).map(([k, v]) => `${k}=${v ?? ''}`),
      cwd: opts.cwd,
    },
    hostname: os.hostname(),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    ],
    linux: { namespaces },
  };
}

/**
 * The network do gives the command, from its --network, --ip and --netns and the global --network
 * (runsc's spelling: `runa --network=host do --netns=false`). Refusals change nothing.
 */
export function doNetworkType(values: Record<string, unknown>, global: string | undefined): DoNetworkType {
  const own = values.network as string | undefined;
  const ip = values.ip as string | undefined;
  const netns = values.netns as boolean | undefined;
  if (own !== undefined && own !== 'none' && own !== 'host' && own !== 'sandbox') throw usage(`invalid network type "${own}": must be none, host or sandbox`);
  if (own !== undefined && global !== undefined && own !== global) throw usage(`do --network ${own} and the global --network=${global} disagree: give one`);
  const type = (own ?? global ?? (ip !== undefined ? 'sandbox' : 'none')) as DoNetworkType;
  // runsc's words: only the host's network runs in the current network namespace.
  if (netns === false && type !== 'host') throw new RunaError('invalid_argument', 'The current network namespace can be used only if --network=host is set');
  if (netns === true && type === 'host') throw usage('--netns gives the command a network namespace of its own and --network host the runtime\'s: give one');
  if (ip !== undefined && type !== 'sandbox') throw usage(`--ip ${ip}: the address of the command's own network (--network sandbox); --network ${type} ${type === 'host' ? 'is the runtime\'s' : 'has only loopback'}`);
  return type;
}

const doCmd: Command = {
  summary: 'run a command in a fresh container over the host root (read-only, with a writable in-memory layer)',
  args: '[--] <command> [args...]',
  description: 'runsc\'s do: no bundle needed. The container gets its own pid, ipc, uts and mount\nnamespaces, the caller\'s environment and directory, and is deleted when the command ends;\nruna exits with its status. Its network: only loopback (none, the default), the host\'s\n(host), or a network of its own (sandbox, or --ip): a veth pair to the runtime\'s network\nnamespace, --ip\'s address inside with a default route through the other end, NAT out of the\nruntime\'s default route and ip_forward turned on (and back off afterwards, if it was off);\nall of it removed when the command ends, however it ends.',
  flags: {
    root: { kind: 'string', usage: 'the directory to use as the container\'s root', default: '/' },
    cwd: { kind: 'string', usage: 'the working directory in the container', default: 'the current directory' },
    network: { kind: 'string', usage: 'none: only loopback; host: the runtime\'s (the host\'s) network namespace; sandbox: a network of its own, NAT to the host\'s default route (see --ip). The global --network is taken when this is not given', default: 'none, or sandbox with --ip' },
    ip: { kind: 'string', usage: `the command's IPv4 address and prefix with --network sandbox (runsc's); the host's end of the link is the next address of the network`, value: 'ADDRESS[/PREFIX]', default: DEFAULT_DO_IP },
    netns: { kind: 'bool', usage: 'run in a new network namespace (runsc\'s); --netns=false is the host\'s network and needs --network host', default: 'true' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags, { stopAtPositional: true });
    if (!positionals.length) throw usage('"do" requires a command to run: runa do [--root DIR] [--cwd DIR] [--network none|host|sandbox] [--ip ADDRESS[/PREFIX]] -- cmd...');
    const network = doNetworkType(values, ctx.globals.network);
    const root = ctx.abs((values.root as string | undefined) ?? '/');
    const cwd = ctx.abs((values.cwd as string | undefined) ?? '.');
    for (const p of [root, path.join(root, cwd)]) {
      try { fs.accessSync(p); } catch { throw new RunaError('invalid_argument', `unable to access ${JSON.stringify(p)}`); }
    }
    // runsc's do always overlays (its spec has no bind mount: root and all are the same).
    if (ctx.globals.overlay === 'none') throw usage('"do" always runs over an in-memory overlay: not with --overlay2 none');
    const id = `runa-do-${crypto.randomBytes(4).toString('hex')}`;
    // Everything about the network is checked before anything is made.
    const net = network === 'sandbox' ? await (await import('../do-net.js')).DoNetwork.prepare(ctx.root, id, (values.ip as string | undefined) ?? DEFAULT_DO_IP) : null;
    let bundle: string | null = null;
    try {
      // In the root, as a trash name (`.~`): no container's, and swept by the next daemon if this one dies first.
      await ctx.connect();
      bundle = fs.mkdtempSync(path.join(ctx.root, `.~do~${id}~`));
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(doSpec({ root, cwd, args: positionals, network, env: ctx.io.env })));
      return await runIn(ctx, id, bundle, net);
    } finally {
      if (bundle) fs.rmSync(bundle, { recursive: true, force: true });
      for (const p of (await net?.remove()) ?? []) ctx.log('warning', `runa do: removing the network: ${p}`);
    }
  },
};
export default doCmd;

/** Create the container, give it its network (between create and start), start it, wait, delete it. */
async function runIn(ctx: Context, id: string, bundle: string, net: import('../do-net.js').DoNetwork | null): Promise<number> {
  const client = await ctx.connect();
  try {
    const { nsinit, initPid } = await createContainer(ctx, { id, bundle, overlay: ctx.globals.overlay === 'root' ? 'root' : 'all', start: !net, ownNetwork: true });
    // The daemon keeps the config it planned from: the bundle is not left to a daemon's death.
    fs.rmSync(bundle, { recursive: true, force: true });
    if (net) {
      try {
        await net.setUp(initPid);
        ctx.log('debug', `do ${id}: ${net.address.ip}/${net.address.prefix} on eth0, ${net.address.peer} on ${net.hostIf}, NAT out of ${net.uplink}`);
        await client.request({ type: 'container.start', id });
      } catch (e) {
        nsinit.kill('SIGKILL');
        await nsinit.wait().catch(() => undefined);
        throw e;
      }
    }
    return await nsinit.wait();
  } finally {
    await client.request({ type: 'container.delete', id, force: true }).catch(() => undefined);
  }
}
