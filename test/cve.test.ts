// Regression tests named after the CVEs of other runtimes that runa's design must not repeat.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until, repo } from './helpers/runa.js';

const sb = new Sandbox('cve');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const hash = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('CVE-2019-5736: a container never reaches the host\'s nsinit through /proc/<pid>/exe while processes are exec\'d into it', async () => {
  const nsinit = path.join(repo, 'native', 'nsinit');
  const before = hash(nsinit);
  const dir = path.join(sb.dir, 'k');
  fs.mkdirSync(dir);
  // Root in the container (without CAP_SYS_PTRACE, as by default) watches every process it can
  // see, as the exploit did, for one whose executable is the host's runtime binary.
  const watcher = 'touch /k/ready; while :; do ls -l /proc/[0-9]*/exe 2>/dev/null | grep -e nsinit -e node >> /k/seen; done';
  const bundle = await sb.bundle(['sh', '-c', watcher], (spec) => {
    spec.mounts.push({ destination: '/k', type: 'bind', source: dir, options: ['rbind', 'rw'] });
  });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'cve5736'])).code, 0);
  await until(() => fs.existsSync(path.join(dir, 'ready')), 'the watcher');
  for (let i = 0; i < 60; i++) {
    const r = await sb.run(['exec', 'cve5736', 'true']);
    assert.equal(r.code, 0, r.stderr);
  }
  const seen = fs.existsSync(path.join(dir, 'seen')) ? fs.readFileSync(path.join(dir, 'seen'), 'utf8') : '';
  assert.equal(seen, '', 'no process of the runtime was reachable from the container');
  assert.equal((await sb.run(['delete', '-f', 'cve5736'])).code, 0);
  assert.equal(hash(nsinit), before, 'the host binary is unchanged');
});

test('CVE-2022-29162: an exec\'d process gets no inheritable capabilities beyond the spec\'s, --cap included', async () => {
  const bundle = await sb.bundle(['sleep', '7400']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'cve29162'])).code, 0);
  const caps = async (args: string[]) => {
    const r = await sb.run(['exec', ...args, 'cve29162', 'grep', '-e', 'CapInh', '-e', 'CapEff', '/proc/self/status']);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)).map(([k, v]) => [k, BigInt(`0x${v}`)]));
  };
  const plain = await caps([]);
  assert.equal(plain.CapInh, 0n, 'runc\'s default spec gives no inheritable capability');
  const added = await caps(['--cap', 'CAP_SYS_ADMIN']);
  assert.equal(added.CapInh, 0n, '--cap does not make a capability inheritable');
  assert.notEqual(added.CapEff & (1n << 21n), 0n, '--cap made CAP_SYS_ADMIN effective');
  assert.equal((await sb.run(['delete', '-f', 'cve29162'])).code, 0);
});
