// The unit-level suites on a freshly booted Debian kernel (the pure cgroup v2 guest of
// test/helpers/v2-guest.ts): what they assume of the host shows up here before it lands on a
// machine that lacks it. The suites run as they do on the host (node's test runner over the
// built dist/, read from the host's / over 9p), each file's summary checked.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { guestLeftovers, guestMissing, runInGuest } from './helpers/v2-guest.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Pure or kernel-probing suites that need no daemon of the host's (each takes seconds natively; the guest runs under TCG). */
const SUITES = ['machines', 'container-model', 'conformance', 'plan-pure', 'seccomp-compile', 'imports'];
const missing = guestMissing();

after(() => assert.deepEqual(guestLeftovers(), [], 'no qemu and no run dir left'));

test('the unit-level suites pass on a freshly booted Debian kernel', { skip: missing ?? false, timeout: 900_000 }, async (t) => {
  const files = SUITES.map((s) => path.join(repo, 'dist', 'test', `${s}.test.js`));
  const script = `echo "KERNEL=$(uname -r)"; cd ${repo} && exec ${process.execPath} --test --test-concurrency=1 --test-reporter=tap ${files.join(' ')} 2>&1\n`;
  const g = await runInGuest(script, { timeoutMs: 840_000 });
  const kernel = /^KERNEL=(.*)$/m.exec(g.stdout)?.[1];
  t.diagnostic(`guest: ${g.accel}, ${Math.round(g.ms / 1000)} s, kernel ${kernel} (the host's: ${os.release()})`);
  assert.ok(kernel && kernel !== os.release(), `the suites ran on the guest's kernel, not the host's (${kernel})`);
  const summary = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(g.stdout)?.[1] ?? NaN);
  const failures = g.stdout.split('\n').filter((l) => /^not ok /.test(l));
  assert.equal(g.timedOut, false, `the guest timed out:\n${g.stdout.slice(-2000)}`);
  assert.deepEqual(failures, [], g.stdout.slice(-4000));
  assert.equal(g.status, 0, g.stdout.slice(-2000) + g.stderr.slice(-1000));
  assert.equal(summary('fail'), 0);
  assert.ok(summary('pass') > 100, `${summary('pass')} tests passed in the guest`);
});
