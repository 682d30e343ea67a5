// `npm run soak [-- --minutes N --clients N]`: the chaos soak (test/helpers/soak.ts) for as
// long as asked, with the figures at the end. `npm test` runs a short one (test/soak.test.ts).
//
// `npm run soak -- --callers [--minutes N]`: the same under containerd's runc shim and the CRI
// (test/helpers/soak-callers.ts; test/soak-callers.test.ts is the short one).
//
// `npm run soak -- --lives 1000,10000 [--parallel N] [--sample-every N]`: the daemon's memory
// after that many container lives (`run -d` + `delete -f`) through one daemon
// (test/helpers/lives.ts; test/soak-memory.test.ts is the short one).
import { soak } from '../test/helpers/soak.js';
import { soakContainerd, soakCri } from '../test/helpers/soak-callers.js';
import { lives } from '../test/helpers/lives.js';
import { Containerd } from '../test/helpers/callers.js';
import { criMissing } from '../test/helpers/cri.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const log = (tag: string) => (l: string) => process.stderr.write(`[${tag} ${new Date().toISOString().slice(11, 19)}] ${l}\n`);
const started = Date.now();
const wall = () => Math.round((Date.now() - started) / 1000);

if (process.argv.includes('--lives')) {
  const counts = process.argv[process.argv.indexOf('--lives') + 1].split(',').map(Number);
  const r = await lives({ checkpoints: counts, parallel: arg('parallel', 2), sampleEvery: arg('sample-every', 250), log: log('lives') });
  console.log(JSON.stringify({ command: `node dist/bench/soak.js ${process.argv.slice(2).join(' ')}`, ...r, wallSeconds: wall() }, null, 2));
  process.exit(r.failed.length || r.leftovers.length || r.daemonChanged ? 1 : 0);
} else if (process.argv.includes('--callers')) {
  const minutes = arg('minutes', 5);
  const opts = { seconds: minutes * 60, clients: arg('clients', 3), killEveryMs: [2000, 5000] as [number, number] };
  const missing = Containerd.missing();
  if (missing) { console.log(`callers soak skipped: ${missing}`); process.exit(0); }
  const reports = [await soakContainerd({ ...opts, log: log('containerd') })];
  if (!criMissing()) reports.push(await soakCri({ ...opts, clients: Math.max(1, opts.clients - 1), log: log('cri') }));
  else log('cri')(`skipped: ${criMissing()}`);
  console.log(JSON.stringify({ reports, wallSeconds: wall() }, null, 2));
  process.exit(reports.some((r) => r.problems.length || r.leftovers.length) ? 1 : 0);
} else {
  const minutes = arg('minutes', 5);
  const clients = arg('clients', 8);
  const r = await soak({ seconds: minutes * 60, clients, killEveryMs: [2000, 5000], log: log('soak') });
  console.log(JSON.stringify({ ...r, wallSeconds: wall() }, null, 2));
  process.exit(r.problems.length || r.leftovers.length ? 1 : 0);
}
