import path from 'node:path';
import type { Command } from '../cli.js';
import { exactArgs, parseFlags } from '../flags.js';
import type { CheckpointOptions } from '../../bus/messages.js';

export const CHECKPOINT_USAGE = `runa checkpoint - checkpoint a running container (through CRIU)

USAGE:
   runa checkpoint [command options] <container-id>

OPTIONS:
   --image-path value           path for saving criu image files (default: ./checkpoint)
   --work-path value            path for saving work files and logs (default: the image path)
   --parent-path value          path for previous criu image files in pre-dump
   --leave-running              leave the process running after checkpointing
   --tcp-established            allow open tcp connections
   --ext-unix-sk                allow external unix sockets
   --shell-job                  allow shell jobs
   --lazy-pages                 use userfaultfd to lazily restore memory pages
   --status-fd value            accepted for compatibility
   --page-server value          accepted for compatibility
   --file-locks                 handle file locks, for safety
   --pre-dump                   dump container's memory information only, leave the container running after this
   --manage-cgroups-mode value  cgroups mode: soft (default), ignore, full and strict
   --empty-ns value             create a namespace, but don't restore its properties
   --auto-dedup                 enable auto deduplication of memory images
`;

const checkpoint: Command = {
  summary: 'checkpoint a running container (CRIU)',
  usage: CHECKPOINT_USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {
      'image-path': { kind: 'string' }, 'work-path': { kind: 'string' }, 'parent-path': { kind: 'string' },
      'leave-running': { kind: 'bool' }, 'tcp-established': { kind: 'bool' }, 'ext-unix-sk': { kind: 'bool' },
      'shell-job': { kind: 'bool' }, 'lazy-pages': { kind: 'bool' }, 'status-fd': { kind: 'string' },
      'page-server': { kind: 'string' }, 'file-locks': { kind: 'bool' }, 'pre-dump': { kind: 'bool' },
      'manage-cgroups-mode': { kind: 'string' }, 'empty-ns': { kind: 'strings' }, 'auto-dedup': { kind: 'bool' },
    });
    exactArgs(positionals, 1, 'checkpoint');
    const abs = (p: unknown) => (typeof p === 'string' ? path.resolve(p) : undefined);
    const options: CheckpointOptions = {
      imagePath: abs(values['image-path']) ?? path.resolve('checkpoint'),
      workPath: abs(values['work-path']), parentPath: abs(values['parent-path']),
      leaveRunning: Boolean(values['leave-running']), tcpEstablished: Boolean(values['tcp-established']),
      extUnixSk: Boolean(values['ext-unix-sk']), shellJob: Boolean(values['shell-job']), lazyPages: Boolean(values['lazy-pages']),
      fileLocks: Boolean(values['file-locks']), preDump: Boolean(values['pre-dump']), autoDedup: Boolean(values['auto-dedup']),
      manageCgroupsMode: values['manage-cgroups-mode'] as CheckpointOptions['manageCgroupsMode'],
      emptyNs: values['empty-ns'] as string[] | undefined,
    };
    await (await ctx.connect()).request({ type: 'container.checkpoint', id: positionals[0], options });
    return 0;
  },
};
export default checkpoint;
