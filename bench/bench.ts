// `npm run bench`: runa against runc, same machine, same bundle, same run.
// Markdown on stdout, progress on stderr, JSON in bench/results/latest.json.
// Everything it makes (containers, daemons, temp dirs) is removed at the end, on error and on SIGINT.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeRootfs } from '../test/helpers/rootfs.js';
import { nsinitPath, packageRoot } from '../src/paths.js';
import { sleep } from './util.js';
import { SECTIONS, rows, breakdown, extra, ratio, markdown, evaluateTargets, opts, work, stateBase, rootfs, SLEEP_ARG, aborted, log, Failure, bundle, leaks, noteLeftCgroups, cleanup, setBundles } from './harness.js';
import { phaseLatency } from './sections/latency.js';
import { phaseBreakdown } from './sections/breakdown.js';
import { phaseThroughput } from './sections/throughput.js';
import { phaseInspection } from './sections/inspection.js';
import { phasePage } from './sections/page.js';
import { phaseCallers } from './sections/callers.js';
import { phaseDensity } from './sections/density.js';
import { phaseBus } from './sections/bus.js';
import { phaseSeccomp } from './sections/seccomp.js';

// ---------------------------------------------------------------- main

/** The filesystem type of the mount holding `dir` (the longest mount point that prefixes it). */
function fsType(dir: string): string {
  let best = { mnt: '', type: 'unknown' };
  const real = fs.realpathSync(dir);
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mnt, type] = line.split(' ');
    if (!mnt) continue;
    if ((real === mnt || real.startsWith(mnt.endsWith('/') ? mnt : mnt + '/')) && mnt.length >= best.mnt.length) best = { mnt, type };
  }
  return best.type;
}

function machineInfo(): Record<string, unknown> {
  let runcVersion: string | null = null;
  if (opts.runc) {
    const r = spawnSync(opts.runc, ['--version'], { encoding: 'utf8' });
    runcVersion = /runc version (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split('\n')[0];
  }
  const git = spawnSync('git', ['-C', packageRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8'));
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    kernel: os.release(),
    cgroup: fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : 'v1',
    node: process.version,
    runc: opts.runc,
    runcVersion,
    runaVersion: pkg.version,
    commit: git.status === 0 ? git.stdout.trim() : null,
    /** uncommitted changes outside bench/: the figures are for the working tree, not the commit */
    dirty: spawnSync('git', ['-C', packageRoot, 'status', '--porcelain', '--', '.', ':!bench'], { encoding: 'utf8' }).stdout.trim() !== '',
    workFs: fsType(opts.dir),
    stateFs: fsType(stateBase),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    date: new Date().toISOString(),
  };
}

async function main(): Promise<number> {
  const started = performance.now();
  const machine = machineInfo();
  log(`work dir ${work}; runc: ${opts.runc ?? 'not found'}`);
  if (!fs.existsSync(nsinitPath)) throw new Failure(`${nsinitPath} is missing: run \`make -C native\` (or npm run build)`);
  await makeRootfs(rootfs);
  setBundles(await bundle('bundle-true', ['/bin/true']), await bundle('bundle-sleep', ['/bin/sleep', SLEEP_ARG]));

  const phases: Record<string, () => Promise<void>> = {
    latency: phaseLatency, breakdown: phaseBreakdown, throughput: phaseThroughput, density: phaseDensity, bus: phaseBus,
    seccomp: phaseSeccomp, inspection: phaseInspection, page: phasePage, callers: phaseCallers,
  };
  const errors: string[] = [];
  for (const name of SECTIONS) {
    if (opts.only && !opts.only.has(name)) continue;
    if (aborted) break;
    try {
      await phases[name]();
    } catch (e) {
      if (aborted) break;
      const msg = `${name}: ${(e as Error).message}`;
      log(`FAILED ${msg}`);
      errors.push(msg);
    }
  }
  // Every phase deleted its containers: whatever of theirs is still on the host leaked.
  if (!aborted) {
    await sleep(500);
    noteLeftCgroups();
  }
  const seconds = (performance.now() - started) / 1000;
  machine.loadAverageEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const md = markdown(opts, machine, seconds) + (errors.length ? `\nErrors:\n${errors.map((e) => `- ${e}`).join('\n')}\n` : '');
  process.stdout.write(md);
  const command = `node dist/bench/bench.js ${process.argv.slice(2).join(' ')}`.trim();
  const json = {
    command, machine, options: { ...opts, only: opts.only ? [...opts.only] : null }, seconds,
    rows: rows.map((r) => ({ ...r, ratio: ratio(r) })), breakdown, targets: evaluateTargets(), leaks, extra, errors, markdown: md,
  };
  if (aborted) {
    log('interrupted: partial results above; the JSON file is left as it was');
    return 130;
  }
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
  log(`results written to ${path.relative(process.cwd(), opts.out) || opts.out}`);
  return errors.length ? 1 : 0;
}

main().then(
  async (code) => { await cleanup(); process.exit(code); },
  async (e) => { log(`error: ${(e as Error).stack ?? e}`); await cleanup(); process.exit(1); },
);
