// test/helpers/guest-values.ts: the reader of the KEY=value lines the qemu guest suites'
// scripts print (test/cgroup-v2-guest.test.ts, test/checkpoint-guest.test.ts), checked here
// without a guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestValues, parseGuestValues } from './helpers/guest-values.js';

test('KEY=value lines: a capital first, then capitals, digits and _; the value is the rest of the line; the last one said wins', () => {
  const out = [
    'DONE=yes',
    'CG_INIT=0::/',
    'LIMITS_CPU_MAX=50000 100000',
    'ARGS=a=b c=d',
    'EMPTY=',
    'RC=1',
    'RC=0',
    '1=not a key',
    '_X=not a key',
    'lower=not a key',
    'Mixed=not a key',
    'KEY WITH SPACE=no',
    '=no key',
    'sh: line 3: oops',
    '',
  ].join('\n');
  assert.deepEqual([...parseGuestValues(out)], [
    ['DONE', 'yes'], ['CG_INIT', '0::/'], ['LIMITS_CPU_MAX', '50000 100000'], ['ARGS', 'a=b c=d'], ['EMPTY', ''], ['RC', '0'],
  ]);
});

test('GuestValues.get: the value; a key not printed fails showing the guest\'s output; a failed run throws its error', () => {
  const printed = new GuestValues();
  printed.ran({ stdout: 'A=1\nnoise\n', stderr: 'the stderr', console: 'the console' });
  assert.equal(printed.get('A'), '1');
  assert.throws(() => printed.get('B'), (e: Error) => {
    assert.match(e.message, /^the guest printed no B\n--- stdout\nA=1\nnoise\n\n--- stderr\nthe stderr\n--- console\nthe console$/);
    return true;
  });
  const boom = new Error('the guest timed out');
  printed.failed(boom);
  assert.throws(() => printed.get('A'), boom);
  const never = new GuestValues();
  never.failed(new Error('qemu: no kernel'));
  assert.throws(() => never.get('A'), /qemu: no kernel/);
});
