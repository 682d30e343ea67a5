import fs from 'node:fs';
import type { Command } from '../command.js';
import { exactArgs, parseFlags } from '../flags.js';
import { RunaError } from '../../errors.js';

const num = (v: string, flag: string): number => {
  if (!/^-?\d+$/.test(v)) throw new RunaError('invalid_argument', `invalid value for --${flag}: ${JSON.stringify(v)}`);
  return Number(v);
};

/** Sizes as runc accepts them: bytes or with a k/m/g suffix (binary), -1 for unlimited. */
export function parseSize(v: string, flag: string): number {
  const m = /^(-?\d+)([kmgtKMGT]?)[bB]?$/.exec(v);
  if (!m) throw new RunaError('invalid_argument', `invalid value for --${flag}: ${JSON.stringify(v)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(m[1]) * mult;
}

const update: Command = {
  summary: 'update container resource constraints',
  args: '<container-id>',
  description: 'The limits come from --resources (linux.resources of the runtime spec as JSON) and from\nthe individual flags, which win.',
  flags: {
    resources: { kind: 'string', alias: 'r', usage: 'path to a file containing the resources to update, or \'-\' to read from the standard input' },
    memory: { kind: 'string', usage: 'memory limit (in bytes, or with a k, m or g suffix)' },
    'memory-reservation': { kind: 'string', usage: 'memory reservation or soft_limit (in bytes)' },
    'memory-swap': { kind: 'string', usage: 'total memory usage (memory + swap); set \'-1\' to enable unlimited swap' },
    'kernel-memory': { kind: 'string', usage: 'no effect: kernel memory limits are deprecated in the kernel, and runc ignores them too' },
    'kernel-memory-tcp': { kind: 'string', usage: 'no effect: kernel memory limits are deprecated in the kernel, and runc ignores them too' },
    // runc spells it --cpu-share
    'cpu-shares': { kind: 'string', alias: 'cpu-share', usage: 'CPU shares (relative weight vs. other containers)' },
    'cpu-quota': { kind: 'string', usage: 'CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period' },
    'cpu-period': { kind: 'string', usage: 'CPU CFS period to be used for hardcapping (in usecs). 0 to use system default' },
    'cpu-burst': { kind: 'string', usage: 'CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst a given period' },
    'cpu-idle': { kind: 'string', usage: 'set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE' },
    'cpu-rt-runtime': { kind: 'string', usage: 'CPU realtime runtime to be used for hardcapping (in usecs)' },
    'cpu-rt-period': { kind: 'string', usage: 'CPU realtime period to be used for hardcapping (in usecs)' },
    'cpuset-cpus': { kind: 'string', usage: 'CPU(s) to use' },
    'cpuset-mems': { kind: 'string', usage: 'Memory node(s) to use' },
    'pids-limit': { kind: 'string', usage: 'Maximum number of pids allowed in the container' },
    'blkio-weight': { kind: 'string', usage: 'Specifies per cgroup weight, range is from 10 to 1000' },
    'l3-cache-schema': { kind: 'string', usage: 'The string of Intel RDT/CAT L3 cache schema (refused: runa does not drive Intel RDT)' },
    'mem-bw-schema': { kind: 'string', usage: 'The string of Intel RDT/MBA memory bandwidth schema (refused: runa does not drive Intel RDT)' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    exactArgs(positionals, 1, 'update');
    for (const f of ['l3-cache-schema', 'mem-bw-schema'] as const) {
      if (values[f] !== undefined) throw new RunaError('unsupported', `update --${f}: Intel RDT (resctrl) is not supported by runa`);
    }
    let resources: Record<string, any> = {};
    if (values.resources) {
      const file = values.resources as string;
      const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(ctx.abs(file), 'utf8');
      try { resources = JSON.parse(text); } catch (e) { throw new RunaError('invalid_argument', `decoding resources: ${(e as Error).message}`); }
    }
    const memory: Record<string, number> = { ...resources.memory };
    if (values.memory) memory.limit = parseSize(values.memory as string, 'memory');
    if (values['memory-reservation']) memory.reservation = parseSize(values['memory-reservation'] as string, 'memory-reservation');
    if (values['memory-swap']) memory.swap = parseSize(values['memory-swap'] as string, 'memory-swap');
    if (Object.keys(memory).length) resources.memory = memory;
    const cpu: Record<string, number | string> = { ...resources.cpu };
    if (values['cpu-shares']) cpu.shares = num(values['cpu-shares'] as string, 'cpu-shares');
    if (values['cpu-quota']) cpu.quota = num(values['cpu-quota'] as string, 'cpu-quota');
    if (values['cpu-period']) cpu.period = num(values['cpu-period'] as string, 'cpu-period');
    if (values['cpu-burst'] !== undefined) cpu.burst = num(values['cpu-burst'] as string, 'cpu-burst');
    if (values['cpu-idle'] !== undefined) {
      const idle = num(values['cpu-idle'] as string, 'cpu-idle');
      if (idle !== 0 && idle !== 1) throw new RunaError('invalid_argument', `invalid value for --cpu-idle: ${values['cpu-idle']} (0 or 1)`);
      cpu.idle = idle;
    }
    if (values['cpu-rt-runtime']) cpu.realtimeRuntime = num(values['cpu-rt-runtime'] as string, 'cpu-rt-runtime');
    if (values['cpu-rt-period']) cpu.realtimePeriod = num(values['cpu-rt-period'] as string, 'cpu-rt-period');
    if (values['cpuset-cpus']) cpu.cpus = values['cpuset-cpus'] as string;
    if (values['cpuset-mems']) cpu.mems = values['cpuset-mems'] as string;
    if (Object.keys(cpu).length) resources.cpu = cpu;
    if (values['pids-limit']) resources.pids = { limit: num(values['pids-limit'] as string, 'pids-limit') };
    if (values['blkio-weight']) resources.blockIO = { ...resources.blockIO, weight: num(values['blkio-weight'] as string, 'blkio-weight') };
    const r = await (await ctx.connect()).request<{ warnings?: string[] } | undefined>({ type: 'container.update', id: ctx.id(positionals[0]), resources });
    for (const w of r?.warnings ?? []) ctx.log('warning', w);
    return 0;
  },
};
export default update;
