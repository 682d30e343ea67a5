import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';
import { checkEmptyNs, criuCheck, criuPath, criuRestoreFailure, DESCRIPTORS } from '../../actors/criu.js';
import { RESTORE_LOG } from '../../oci/plan.js';
import type { RestoreOptions } from '../../bus/messages.js';
import { RunaError } from '../../errors.js';
import { createContainer } from '../lifecycle.js';
import { refuseCreateFlags } from './create.js';

const MODES = ['soft', 'full', 'strict', 'ignore'];

/** The image dir: it must exist and hold a CRIU checkpoint. Nothing is made for a wrong one. */
function checkImages(images: string): void {
  let st: fs.Stats;
  try { st = fs.statSync(images); } catch { throw new RunaError('invalid_argument', `open ${images}: no such file or directory`); }
  if (!st.isDirectory()) throw new RunaError('invalid_argument', `open ${images}: not a directory`);
  if (!fs.existsSync(path.join(images, 'inventory.img'))) throw new RunaError('invalid_argument', `restore: ${images} holds no checkpoint (no inventory.img)`);
}

/** runc's descriptors.json: the checkpointed init's stdio that were pipes get the caller's fd of the same number. */
function inheritFds(images: string): RestoreOptions['inheritFds'] {
  let fds: unknown;
  try { fds = JSON.parse(fs.readFileSync(path.join(images, DESCRIPTORS), 'utf8')); } catch { return []; /* an image of CRIU's own, or of an older runa: no pipes to give */ }
  if (!Array.isArray(fds)) throw new RunaError('invalid_argument', `restore: ${path.join(images, DESCRIPTORS)} is not a list of descriptors`);
  return fds.slice(0, 3).flatMap((key, fd) => (typeof key === 'string' && key.includes('pipe:') ? [{ fd, key }] : []));
}

const restore: Command = {
  summary: 'restore a container from a previous checkpoint',
  args: '<container-id>',
  description: `Through CRIU (criu restore), as runc does: the bundle's config, state dir and cgroup are made as
create makes them, CRIU restores the checkpointed process tree into them with the rootfs as its root
and each bind mount of the config bound again from its source, and the container is running. The
stdio of the checkpointed init that were pipes are the caller's. Without --detach, runa waits for
the container, deletes it and exits with its status, as run does. Where CRIU cannot run on this host,
its own check says why and nothing is made. With --pid-file and -d the restored init is reparented
to the caller's subreaper when CRIU exits (as runc's is when runc exits): restore an image the way its
container was created, as an init created without --pid-file dies with its parent. Not restored: a
container with a terminal, or whose config has prestart or createRuntime hooks (runc runs those from
CRIU's RPC mode) or linux.netDevices.`,
  flags: {
    'image-path': { kind: 'string', usage: 'path to criu image files for restoring', default: './checkpoint' },
    'work-path': { kind: 'string', usage: 'path for saving work files and logs', default: 'the image path' },
    bundle: { kind: 'string', alias: 'b', usage: 'path to the root of the bundle directory' },
    detach: { kind: 'bool', alias: 'd', usage: 'detach from the container\'s process' },
    'pid-file': { kind: 'string', usage: 'specify the file to write the process id to' },
    'console-socket': { kind: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal (a container with a terminal is refused: see above)' },
    'tcp-established': { kind: 'bool', usage: 'allow open tcp connections' },
    'ext-unix-sk': { kind: 'bool', usage: 'allow external unix sockets' },
    'shell-job': { kind: 'bool', usage: 'allow shell jobs' },
    'file-locks': { kind: 'bool', usage: 'handle file locks, for safety' },
    'manage-cgroups-mode': { kind: 'string', usage: 'cgroups mode: soft|full|strict|ignore (default: soft)' },
    // The restored init is the monitor's child (CRIU's --restore-sibling): no subreaper is needed.
    'no-subreaper': { kind: 'bool', usage: 'disable the use of the subreaper used to reap reparented processes (runa never uses one: the restored init is its monitor\'s child, or with --pid-file -d the caller\'s subreaper\'s)' },
    'no-pivot': { kind: 'bool', usage: 'do not use pivot root to jail process inside rootfs (checked against the config as runc does; CRIU sets the root up itself)' },
    'empty-ns': { kind: 'strings', usage: 'create a namespace, but don\'t restore its properties (network only, which is always so)' },
    'auto-dedup': { kind: 'bool', usage: 'enable auto deduplication of memory images' },
    'lazy-pages': { kind: 'bool', usage: 'use userfaultfd to lazily restore memory pages' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'restore');
    const id = positionals[0];
    const bundle = (values.bundle as string | undefined) ?? '.';
    // runc restores through create's config checks: --no-pivot with a [r]private root propagation
    // is refused before CRIU is asked anything.
    refuseCreateFlags(values, 'restore', ctx.abs(bundle));
    const mode = values['manage-cgroups-mode'] as string | undefined;
    if (mode !== undefined && mode !== '' && !MODES.includes(mode)) throw new RunaError('invalid_argument', 'invalid manage-cgroups-mode value');
    checkEmptyNs(values['empty-ns'] as string[] | undefined);
    // CRIU's own verdict first: on a host where it cannot run, that is the answer.
    await criuCheck('restore');
    const imagePath = ctx.abs((values['image-path'] as string | undefined) ?? 'checkpoint');
    checkImages(imagePath);
    const workPath = values['work-path'] !== undefined ? ctx.abs(values['work-path'] as string) : imagePath;
    const options: RestoreOptions = {
      criu: criuPath('restore'), path: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', imagePath, workPath,
      tcpEstablished: Boolean(values['tcp-established']), extUnixSk: Boolean(values['ext-unix-sk']), shellJob: Boolean(values['shell-job']),
      fileLocks: Boolean(values['file-locks']), autoDedup: Boolean(values['auto-dedup']), lazyPages: Boolean(values['lazy-pages']),
      ...(mode ? { manageCgroupsMode: mode as RestoreOptions['manageCgroupsMode'] } : {}),
      inheritFds: inheritFds(imagePath),
    };
    // Since a container can be restored many times, the work dir may exist (runc); one made here goes again on failure.
    const madeWork = !fs.existsSync(workPath);
    if (madeWork) fs.mkdirSync(workPath, { mode: 0o700 });
    const detach = Boolean(values.detach);
    let nsinit;
    try {
      ({ nsinit } = await createContainer(ctx, {
        id, bundle, pidFile: values['pid-file'] as string | undefined, consoleSocket: values['console-socket'] as string | undefined,
        foreground: !detach, restore: options,
      }));
    } catch (e) {
      // The daemon has undone the container (createFailed); CRIU's reason is in its log.
      const message = (e as Error).message;
      const failure = /^criu restore: /.test(message) ? criuRestoreFailure(workPath, RESTORE_LOG, message) : e;
      if (madeWork) fs.rmSync(workPath, { recursive: true, force: true });
      throw failure;
    }
    if (detach) {
      nsinit.detach();
      return 0;
    }
    // In the foreground, as run: wait, delete, and exit with the container's status.
    const status = await nsinit.wait();
    await (await ctx.connect()).request({ type: 'container.delete', id, force: true }).catch(() => undefined);
    return status;
  },
};
export default restore;
