// `npm run build && node dist/bench/strace.js [--runs N] [--count N]`: what --strace costs a
// syscall-heavy program. busybox `dd if=/dev/zero of=/dev/null bs=1 count=N` (two syscalls a
// byte) runs in a container with `runa run`, without --strace, with it (every syscall, written
// to the debug log), and with --strace-syscalls naming one syscall it never makes (every
// syscall still stops twice, nothing is written); `busybox true` the same way gives the
// container's own cost, which is taken off. For reference, the same dd on the host, bare and under
// strace -f (where strace is installed). Runs alternate, N of each; medians are printed as a
// Markdown table. Everything it makes is removed at the end.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeRootfs } from '../test/helpers/rootfs.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { packageRoot } from '../src/paths.js';
import { onPath } from '../src/which.js';
import { describeFailure, runTimed, stat } from './util.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 5);
const COUNT = arg('count', 100_000);
const runa = path.join(packageRoot, 'native', 'runa');

const MODES = {
  off: [] as string[],
  strace: ['--strace'],
  'strace, filtered out': ['--strace', '--strace-syscalls', 'reboot'],
};
type Mode = keyof typeof MODES;

async function main(): Promise<void> {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!busybox) throw new Error('busybox not found (apt-get install busybox-static)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-bench-strace-'));
  const root = path.join(dir, 'state');
  try {
    const rootfs = path.join(dir, 'rootfs');
    await makeRootfs(rootfs);
    fs.copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
    const bundle = (name: string, args: string[]) => {
      const b = path.join(dir, name);
      fs.mkdirSync(b);
      const spec: any = defaultSpec();
      spec.root.path = rootfs;
      spec.process.args = args;
      spec.process.terminal = false;
      fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
      return b;
    };
    const programs = {
      dd: bundle('dd', ['/bin/busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${COUNT}`]),
      true: bundle('true', ['/bin/busybox', 'true']),
    };
    const ms: Record<string, number[]> = {};
    const logBytes: Record<string, number> = {};
    const strace = onPath('strace', process.env);
    let n = 0;
    for (let i = 0; i < RUNS; i++) {
      for (const mode of Object.keys(MODES) as Mode[]) {
        for (const [prog, b] of Object.entries(programs)) {
          const log = path.join(dir, `log-${++n}`);
          const r = await runTimed(runa, ['--root', root, '--debug-log', log, ...MODES[mode], 'run', '-b', b, `c${n}`], { timeoutMs: 600_000 });
          if (r.code !== 0) throw new Error(`${mode} ${prog}: ${describeFailure(r)}`);
          (ms[`${mode}/${prog}`] ??= []).push(r.ms);
          if (prog === 'dd') logBytes[mode] = fs.statSync(log).size;
          fs.rmSync(log);
        }
      }
      const dd = [busybox, 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${COUNT}`];
      (ms['host/bare'] ??= []).push((await runTimed(dd[0], dd.slice(1))).ms);
      if (strace) {
        const log = path.join(dir, 'host-strace.log');
        const r = await runTimed(strace, ['-f', '-s', '1024', '-o', log, ...dd], { timeoutMs: 600_000 });
        if (r.code !== 0) throw new Error(`strace dd on the host: ${describeFailure(r)}`);
        (ms['host/strace'] ??= []).push(r.ms);
        fs.rmSync(log);
      }
      process.stderr.write(`run ${i + 1}/${RUNS}\n`);
    }
    const med = (k: string) => stat(ms[k]).median;
    const base = med('off/dd') - med('off/true');
    console.log(`busybox dd bs=1 count=${COUNT} (${2 * COUNT} syscalls) in a container, medians of ${RUNS} runs, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)} at the end\n`);
    console.log('| --strace | `run` of dd | `run` of true | dd itself | slowdown | debug log |');
    console.log('|---|---|---|---|---|---|');
    for (const mode of Object.keys(MODES) as Mode[]) {
      const own = med(`${mode}/dd`) - med(`${mode}/true`);
      console.log(`| ${mode} | ${med(`${mode}/dd`).toFixed(0)} ms | ${med(`${mode}/true`).toFixed(0)} ms | ${own.toFixed(0)} ms | ${(own / base).toFixed(1)}× | ${(logBytes[mode] / 1e6).toFixed(1)} MB |`);
    }
    const perCall = (med('strace/dd') - med('strace/true') - base) / (2 * COUNT) * 1000;
    console.log(`\nper syscall with --strace: +${perCall.toFixed(1)} µs`);
    const host = med('host/bare');
    console.log(`\nOn the host, for reference: dd ${host.toFixed(0)} ms${strace ? `, under \`strace -f -s 1024 -o FILE\` ${med('host/strace').toFixed(0)} ms (${(med('host/strace') / host).toFixed(1)}×)` : ' (strace not installed)'}`);
  } finally {
    spawnSync(runa, ['--root', root, 'list', '-q']).stdout?.toString().split('\n').filter(Boolean)
      .forEach((id) => spawnSync(runa, ['--root', root, 'delete', '-f', id]));
    try { process.kill(Number(fs.readFileSync(path.join(root, 'daemon.pid'), 'utf8')), 'SIGTERM'); } catch { /* none */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
