import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { createContainer } from '../lifecycle.js';

/** The spec for `do`: the host's root (or --root) read-only under an in-memory writable layer. */
export function doSpec(opts: { root: string; cwd: string; args: string[]; network: 'none' | 'host'; env: NodeJS.ProcessEnv }) {
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (opts.network === 'none') namespaces.push({ type: 'network' });
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

const doCmd: Command = {
  summary: 'run a command in a fresh container over the host root (read-only, with a writable in-memory layer)',
  args: '[--] <command> [args...]',
  description: 'runsc\'s do: no bundle needed. The container gets its own pid, ipc, uts and mount\nnamespaces, the caller\'s environment and directory, and is deleted when the command ends;\nruna exits with its status.',
  flags: {
    root: { kind: 'string', usage: 'the directory to use as the container\'s root', default: '/' },
    cwd: { kind: 'string', usage: 'the working directory in the container', default: 'the current directory' },
    network: { kind: 'string', usage: 'none: only loopback; host: the host\'s network', default: 'none' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags, { stopAtPositional: true });
    if (!positionals.length) throw usage('"do" requires a command to run: runa do [--root DIR] [--cwd DIR] [--network none|host] -- cmd...');
    const network = (values.network as string | undefined) ?? 'none';
    if (network !== 'none' && network !== 'host') throw usage(`invalid network type "${network}": must be none or host`);
    const root = ctx.abs((values.root as string | undefined) ?? '/');
    const cwd = ctx.abs((values.cwd as string | undefined) ?? '.');
    for (const p of [root, path.join(root, cwd)]) {
      try { fs.accessSync(p); } catch { throw new RunaError('invalid_argument', `unable to access ${JSON.stringify(p)}`); }
    }
    // runsc's do always overlays (its spec has no bind mount: root and all are the same).
    if (ctx.globals.overlay === 'none') throw usage('"do" always runs over an in-memory overlay: not with --overlay2 none');
    const id = `runa-do-${crypto.randomBytes(4).toString('hex')}`;
    const bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-do-'));
    try {
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(doSpec({ root, cwd, args: positionals, network, env: ctx.io.env })));
      const client = await ctx.connect();
      try {
        const { nsinit } = await createContainer(ctx, { id, bundle, overlay: ctx.globals.overlay === 'root' ? 'root' : 'all', start: true });
        return await nsinit.wait();
      } finally {
        await client.request({ type: 'container.delete', id, force: true }).catch(() => undefined);
      }
    } finally {
      fs.rmSync(bundle, { recursive: true, force: true });
    }
  },
};
export default doCmd;
