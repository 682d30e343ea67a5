// The bench's command line (bench/bench.ts): its options, the sections, and runc's whereabouts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../src/paths.js';

export interface Options {
  quick: boolean;
  runs: number;
  coldRuns: number;
  throughputSeconds: number;
  clients: number;
  density: number[];
  busSeconds: number;
  runc: string | null;
  only: Set<string> | null;
  out: string;
  dir: string;
  /** state roots on the --dir filesystem instead of a tmpfs of their own */
  stateOnDisk: boolean;
}

export const SECTIONS = ['latency', 'breakdown', 'throughput', 'callers', 'density', 'bus', 'seccomp', 'inspection', 'page'];

export const USAGE = `usage: node dist/bench/bench.js [options]

  --quick            short run: 10 runs, 5 s throughput, density 1 and 50, 1 s per bus figure
  --runs N           latency samples per figure (default 50; --quick 10); cold runs: half of it
  --duration S       seconds per throughput figure (default 30; --quick 5)
  --clients N        concurrent clients for throughput (default 8)
  --density LIST     container counts for density (default 1,50,200; --quick 1,50)
  --bus-seconds S    seconds per bus figure (default 3; --quick 1)
  --runc PATH        runc binary (default: runc on PATH); --no-runc to skip runc
  --only LIST        sections to run: ${SECTIONS.join(',')}
  --out FILE         JSON results (default bench/results/latest.json)
  --dir DIR          where the temporary bundle (and rootfs) goes (default ${os.tmpdir()})
  --state-on-disk    put both state roots under --dir too; by default they are on a tmpfs
                     mounted for the run, as runc's --root help asks ("this should be located
                     in tmpfs") and as /run is on systemd hosts
`;

export function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    runs: quick ? 10 : 50,
    coldRuns: 0,
    throughputSeconds: quick ? 5 : 30,
    clients: 8,
    density: quick ? [1, 50] : [1, 50, 200],
    busSeconds: quick ? 1 : 3,
    runc: findRunc(),
    only: null,
    out: path.join(packageRoot, 'bench', 'results', 'latest.json'),
    dir: os.tmpdir(),
    stateOnDisk: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) fail(`${a} needs a positive number`);
      return n;
    };
    switch (a) {
      case '--quick': break;
      case '--runs': o.runs = Math.round(num()); break;
      case '--duration': o.throughputSeconds = num(); break;
      case '--clients': o.clients = Math.round(num()); break;
      case '--density': o.density = val().split(',').map(Number).filter((n) => n > 0); break;
      case '--bus-seconds': o.busSeconds = num(); break;
      case '--runc': o.runc = val(); break;
      case '--no-runc': o.runc = null; break;
      case '--only': o.only = new Set(val().split(',')); break;
      case '--out': o.out = path.resolve(val()); break;
      case '--dir': o.dir = path.resolve(val()); break;
      case '--state-on-disk': o.stateOnDisk = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0);
      default: fail(`unknown option ${a}\n${USAGE}`);
    }
  }
  o.coldRuns = Math.max(3, Math.round(o.runs / 2));
  if (o.runc && !runcWorks(o.runc)) o.runc = null;
  return o;
}

export function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

export function findRunc(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, 'runc');
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

export function runcWorks(bin: string): boolean {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}
