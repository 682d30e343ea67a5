import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';
import type { CheckpointOptions } from '../../bus/messages.js';
import { RunaError } from '../../errors.js';

const checkpoint: Command = {
  summary: 'checkpoint a running container',
  args: '<container-id>',
  description: 'Through CRIU. Where CRIU cannot run on this host, its own check says why.',
  flags: {
    'image-path': { kind: 'string', usage: 'path for saving criu image files', default: './checkpoint' },
    'work-path': { kind: 'string', usage: 'path for saving work files and logs', default: 'the image path' },
    'parent-path': { kind: 'string', usage: 'path for previous criu image files in pre-dump' },
    'leave-running': { kind: 'bool', usage: 'leave the process running after checkpointing' },
    'tcp-established': { kind: 'bool', usage: 'allow open tcp connections' },
    'ext-unix-sk': { kind: 'bool', usage: 'allow external unix sockets' },
    'shell-job': { kind: 'bool', usage: 'allow shell jobs' },
    'lazy-pages': { kind: 'bool', usage: 'use userfaultfd to lazily restore memory pages' },
    'status-fd': { kind: 'string', usage: 'criu writes \\0 to this FD once lazy-pages is ready (refused: not supported by runa)' },
    'page-server': { kind: 'string', usage: 'ADDRESS:PORT of the page server (refused: not supported by runa)' },
    'file-locks': { kind: 'bool', usage: 'handle file locks, for safety' },
    'pre-dump': { kind: 'bool', usage: 'dump container\'s memory information only, leave the container running after this' },
    'manage-cgroups-mode': { kind: 'string', usage: 'cgroups mode: soft (default), ignore, full and strict' },
    'empty-ns': { kind: 'strings', usage: 'create a namespace, but don\'t restore its properties' },
    'auto-dedup': { kind: 'bool', usage: 'enable auto deduplication of memory images' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'checkpoint');
    for (const f of ['status-fd', 'page-server'] as const) {
      if (values[f] !== undefined) throw new RunaError('unsupported', `checkpoint --${f}: not supported by runa`);
    }
    const abs = (p: unknown) => (typeof p === 'string' ? ctx.abs(p) : undefined);
    const options: CheckpointOptions = {
      imagePath: abs(values['image-path']) ?? ctx.abs('checkpoint'),
      workPath: abs(values['work-path']), parentPath: abs(values['parent-path']),
      leaveRunning: Boolean(values['leave-running']), tcpEstablished: Boolean(values['tcp-established']),
      extUnixSk: Boolean(values['ext-unix-sk']), shellJob: Boolean(values['shell-job']), lazyPages: Boolean(values['lazy-pages']),
      fileLocks: Boolean(values['file-locks']), preDump: Boolean(values['pre-dump']), autoDedup: Boolean(values['auto-dedup']),
      manageCgroupsMode: values['manage-cgroups-mode'] as CheckpointOptions['manageCgroupsMode'],
      emptyNs: values['empty-ns'] as string[] | undefined,
    };
    await (await ctx.connect()).request({ type: 'container.checkpoint', id: ctx.id(positionals[0]), options });
    return 0;
  },
};
export default checkpoint;
