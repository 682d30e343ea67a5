import fs from 'node:fs';
import type { Command } from '../cli.js';
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
  summary: 'update the resource limits of a container (--resources FILE|- or individual flags)',
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {
      resources: { kind: 'string', alias: 'r' },
      memory: { kind: 'string' }, 'memory-reservation': { kind: 'string' }, 'memory-swap': { kind: 'string' },
      'kernel-memory': { kind: 'string', ignored: true }, 'kernel-memory-tcp': { kind: 'string', ignored: true },
      // runc spells it --cpu-share
      'cpu-shares': { kind: 'string', alias: 'cpu-share' }, 'cpu-quota': { kind: 'string' }, 'cpu-period': { kind: 'string' },
      'cpu-rt-runtime': { kind: 'string' }, 'cpu-rt-period': { kind: 'string' },
      'cpuset-cpus': { kind: 'string' }, 'cpuset-mems': { kind: 'string' },
      'pids-limit': { kind: 'string' }, 'blkio-weight': { kind: 'string' },
      'l3-cache-schema': { kind: 'string', ignored: true }, 'mem-bw-schema': { kind: 'string', ignored: true },
    });
    exactArgs(positionals, 1, 'update');
    let resources: Record<string, any> = {};
    if (values.resources) {
      const file = values.resources as string;
      const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
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
    if (values['cpu-rt-runtime']) cpu.realtimeRuntime = num(values['cpu-rt-runtime'] as string, 'cpu-rt-runtime');
    if (values['cpu-rt-period']) cpu.realtimePeriod = num(values['cpu-rt-period'] as string, 'cpu-rt-period');
    if (values['cpuset-cpus']) cpu.cpus = values['cpuset-cpus'] as string;
    if (values['cpuset-mems']) cpu.mems = values['cpuset-mems'] as string;
    if (Object.keys(cpu).length) resources.cpu = cpu;
    if (values['pids-limit']) resources.pids = { limit: num(values['pids-limit'] as string, 'pids-limit') };
    if (values['blkio-weight']) resources.blockIO = { ...resources.blockIO, weight: num(values['blkio-weight'] as string, 'blkio-weight') };
    await (await ctx.connect()).request({ type: 'container.update', id: positionals[0], resources });
    return 0;
  },
};
export default update;
