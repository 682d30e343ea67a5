// A short chaos soak (`npm run soak` runs it for minutes): 4 clients take containers through
// their lives while the daemon is killed with SIGKILL every second or two (test/helpers/soak.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soak } from './helpers/soak.js';

test('chaos soak: containers created, started, exec\'d into, paused, killed and deleted while the daemon is SIGKILLed again and again: none lost, every exit status right, nothing left', { timeout: 180_000 }, async (t) => {
  const r = await soak({ seconds: Number(process.env.RUNA_SOAK_SECONDS ?? 20), clients: 4, killEveryMs: [800, 2000] });
  t.diagnostic(`${r.containers} containers, ${r.ops} commands (${r.interrupted} interrupted by ${r.kills} daemon kills), ${r.exitStatuses} exit statuses checked; largest daemon RSS ${r.daemonRssKb} kB`);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.leftovers, []);
  assert.ok(r.kills >= 5, `the daemon was killed (${r.kills} times)`);
  assert.ok(r.interrupted > 0, 'some commands were cut short by a kill');
  assert.ok(r.containers >= 10, `containers went through their lives (${r.containers})`);
  assert.ok(r.daemonRssKb > 0 && r.daemonRssKb < 256 * 1024, `each daemon's memory stays bounded (largest ${r.daemonRssKb} kB)`);
});
