import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../command.js';
import { exactArgs, parseFlags, type FlagSpecs, type FlagValues } from '../flags.js';
import { RunaError } from '../../errors.js';
import { createContainer, preserveFdsFlag } from '../lifecycle.js';

export const createFlags: FlagSpecs = {
  bundle: { kind: 'string', alias: 'b', usage: 'path to the root of the bundle directory, defaults to the current directory' },
  'console-socket': { kind: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
  'pid-file': { kind: 'string', usage: 'specify the file to write the process id to' },
  'pidfd-socket': { kind: 'string', usage: 'path to an AF_UNIX socket which will receive a file descriptor referencing the init process' },
  'no-pivot': { kind: 'bool', usage: 'do not use pivot root to jail process inside rootfs' },
  'no-new-keyring': { kind: 'bool', usage: 'do not create a new session keyring for the container; this will cause the container to inherit the calling processes session key' },
  'user-log': { kind: 'string', usage: 'filename to send user-visible logs to (runsc): the container\'s and its processes\' changes of state and exit statuses, as Kubernetes JSON log lines; not reopened by a daemon that restarts', value: 'FILE' },
  'preserve-fds': { kind: 'string', usage: 'Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)', default: '0' },
};

/**
 * What create and run refuse of their flags. --no-pivot (MS_MOVE and chroot, for a rootfs on
 * ramfs) with a private root propagation, as runc does: the host's mounts would stay reachable.
 */
export function refuseCreateFlags(values: FlagValues, cmd: string, bundle: string): void {
  if (!values['no-pivot']) return;
  let propagation: unknown;
  try {
    propagation = (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { linux?: { rootfsPropagation?: unknown } }).linux?.rootfsPropagation;
  } catch { return; /* the daemon says what is wrong with the bundle */ }
  if (propagation === 'private' || propagation === 'rprivate') {
    throw new RunaError('invalid_spec', `${cmd} --no-pivot: rootfsPropagation of [r]private is not safe without pivot_root`);
  }
}

const create: Command = {
  summary: 'create a container',
  args: '<container-id>',
  description: 'The container is set up (namespaces, mounts, cgroups, the createRuntime and\ncreateContainer hooks) and its process waits for `runa start`.',
  flags: createFlags,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'create');
    refuseCreateFlags(values, 'create', ctx.abs((values.bundle as string | undefined) ?? '.'));
    const { nsinit } = await createContainer(ctx, {
      id: positionals[0],
      bundle: (values.bundle as string | undefined) ?? '.',
      pidFile: values['pid-file'] as string | undefined,
      consoleSocket: values['console-socket'] as string | undefined,
      preserveFds: preserveFdsFlag(values['preserve-fds']),
      noNewKeyring: Boolean(values['no-new-keyring']),
      pidfdSocket: values['pidfd-socket'] as string | undefined,
      noPivot: Boolean(values['no-pivot']),
      userLog: values['user-log'] as string | undefined,
    });
    nsinit.detach();
    return 0;
  },
};
export default create;
