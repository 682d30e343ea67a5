// The chaos soak under the callers (test/helpers/soak-callers.ts): containerd's runc shim
// (`ctr run`, `ctr task exec|pause|resume|kill|rm`) and, where crictl is, containerd's CRI
// plugin (`crictl runp|create|start|exec|stop|rm|stopp|rmp`) take containers through their
// lives while runa's daemon is SIGKILLed every 2-4 s. Short here (RUNA_SOAK_CALLERS_SECONDS,
// default 25 s per caller); `npm run soak -- --callers --minutes N` runs it for longer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Containerd } from './helpers/callers.js';
import { criMissing } from './helpers/cri.js';
import { busyboxMissing } from './helpers/oci-image.js';
import { soakContainerd, soakCri, type CallersSoakReport } from './helpers/soak-callers.js';

const SECONDS = Number(process.env.RUNA_SOAK_CALLERS_SECONDS ?? 25);
const root = process.getuid?.() !== 0 ? 'needs root' : null;
const noContainerd = root ?? Containerd.missing() ?? busyboxMissing();
const noCri = noContainerd ?? criMissing();
if (noContainerd) console.log(`# callers soak skipped: ${noContainerd}`);
else if (noCri) console.log(`# callers soak: the CRI part skipped: ${noCri}`);

const line = (r: CallersSoakReport): string =>
  `${r.caller}: ${r.lives} containers${r.pods ? ` in ${r.pods} pods` : ''} (${r.whole} without a hitch), ${r.ops} caller commands, ${r.interrupted} cut short by ${r.kills} kills of ${r.daemons} daemons, ${r.exitStatuses} exit statuses right`;

const check = (r: CallersSoakReport): void => {
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.leftovers, []);
  assert.ok(r.kills >= 3, `the daemon was killed (${r.kills} times)`);
  assert.ok(r.lives >= 5, `containers went through their lives (${r.lives})`);
  assert.ok(r.exitStatuses >= r.lives / 2, `exit statuses were checked (${r.exitStatuses} for ${r.lives} lives)`);
};

test('chaos soak under containerd: ctr run, exec, pause, kill and rm while runa\'s daemon is SIGKILLed: no task lost, every exit status right, nothing left', { skip: noContainerd ?? false, timeout: (SECONDS + 120) * 1000 }, async (t) => {
  const r = await soakContainerd({ seconds: SECONDS, clients: 3, killEveryMs: [2000, 4000], log: process.env.RUNA_SOAK_LOG ? (l) => t.diagnostic(l) : undefined });
  t.diagnostic(line(r));
  check(r);
});

test('chaos soak under the CRI: crictl runp, create, start, exec, stop, rm and rmp while runa\'s daemon is SIGKILLed: no container lost, every exit status right, nothing left', { skip: noCri ?? false, timeout: (SECONDS + 150) * 1000 }, async (t) => {
  const r = await soakCri({ seconds: SECONDS, clients: 2, killEveryMs: [2000, 4000], log: process.env.RUNA_SOAK_LOG ? (l) => t.diagnostic(l) : undefined });
  t.diagnostic(line(r));
  check(r);
});
