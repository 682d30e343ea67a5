// `npm run build && node dist/bench/recovery.js [--rounds N] [--commands N] [--kill-after MS]`:
// how long commands in flight take to complete when the daemon dies during its own start
// (issue 26). Each round: no daemon; N `run -d` at once (the first starts the daemon); the
// daemon SIGKILLed KILL-AFTER ms later; each command's end is measured from the kill.
// Everything it makes is removed at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeRootfs } from '../test/helpers/rootfs.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { packageRoot } from '../src/paths.js';
import { runTimed, sleep, stat, alive } from './util.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 5);
const COMMANDS = arg('commands', 20);
const KILL_AFTER = arg('kill-after', 200);
const runa = path.join(packageRoot, 'native', 'runa');

/** The daemons of `root` (their command line names it), found before they write daemon.pid. */
function daemonsOf(root: string): number[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return argv.includes('daemon') && argv.includes(root);
    } catch { return false; }
  }).map(Number);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-recovery-'));
  const root = path.join(dir, 'state');
  const rootfs = path.join(dir, 'rootfs');
  await makeRootfs(rootfs);
  const bundle = path.join(dir, 'bundle');
  fs.mkdirSync(bundle);
  const spec: any = defaultSpec();
  spec.root.path = rootfs;
  spec.process.args = ['sleep', '1000'];
  spec.process.terminal = false;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const after: number[] = [];
  const baseline: number[] = [];
  let failed = 0;
  const reasons = new Map<string, number>();
  try {
    // Rounds alternate: one with the kill, one without (the same commands' own time from that moment).
    for (let round = 0; round < 2 * ROUNDS; round++) {
      const kill = round % 2 === 0;
      const ids = Array.from({ length: COMMANDS }, (_, i) => `rec${round}-${i}`);
      const t0 = performance.now();
      const runs = ids.map((id) => runTimed(runa, ['--root', root, 'run', '-d', '-b', bundle, id], { timeoutMs: 30_000 }));
      await sleep(KILL_AFTER);
      const killedAt = performance.now();
      if (kill) for (const pid of daemonsOf(root)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      const results = await Promise.all(runs);
      for (const r of results) {
        if (r.code !== 0) {
          failed++;
          const why = r.stderr.trim().split('\n').pop() ?? `status ${r.code}`;
          reasons.set(why, (reasons.get(why) ?? 0) + 1);
        }
        (kill ? after : baseline).push(t0 + r.ms - killedAt);
      }
      for (const id of ids) await runTimed(runa, ['--root', root, 'delete', '-f', id]);
      for (const pid of daemonsOf(root)) { process.kill(pid, 'SIGTERM'); while (alive(pid)) await sleep(10); }
    }
  } finally {
    for (const pid of daemonsOf(root)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const s = stat(after);
  const b = stat(baseline);
  for (const [why, n] of reasons) console.log(`failed ${n}×: ${why}`);
  console.log(`| ${COMMANDS} run -d in flight, daemon SIGKILLed ${KILL_AFTER} ms after they start (${ROUNDS} rounds) | ends after the kill: median ${Math.round(s.median)} ms, worst ${Math.round(s.max)} ms | without the kill, from the same moment: median ${Math.round(b.median)} ms, worst ${Math.round(b.max)} ms | failed ${failed} of ${after.length + baseline.length} | load ${os.loadavg()[0].toFixed(1)} |`);
}

main().catch((e) => { console.error(e); process.exit(1); });
