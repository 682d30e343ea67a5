// `runa do`: a command in a fresh container over the host's root, read-only under an
// in-memory writable layer — the README's first example.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox } from './helpers/runa.js';

const sb = new Sandbox('do');
after(async () => {
  const bundles = fs.readdirSync(sb.root).filter((n) => n.startsWith('.~do~'));
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
  assert.deepEqual(bundles, [], 'no temporary bundle left');
});

test('do -- echo hello', async () => {
  const r = await sb.run(['do', '--', 'echo', 'hello']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello\n');
  assert.equal((await sb.run(['list', '-q'])).stdout, '', 'the container is gone afterwards');
});

test('do exits with the command\'s status, runs in the caller\'s directory and new namespaces', async () => {
  const r = await sb.run(['do', '--', 'sh', '-c', 'pwd; readlink /proc/self/ns/pid; exit 9']);
  assert.equal(r.code, 9, r.stderr);
  const [cwd, pidns] = r.stdout.trim().split('\n');
  assert.equal(cwd, process.cwd());
  assert.notEqual(pidns, fs.readlinkSync('/proc/self/ns/pid'));
});

test('writes land in the in-memory layer, never on the host', async () => {
  const marker = path.join(sb.dir, 'written-by-do');
  const r = await sb.run(['do', '--cwd', sb.dir, '--', 'sh', '-c', `echo x > ${marker} && cat ${marker} && touch /etc/runa-do-test`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'x\n');
  assert.equal(fs.existsSync(marker), false);
  assert.equal(fs.existsSync('/etc/runa-do-test'), false);
});

test('--network none has only loopback; --network host shares the host\'s', async () => {
  const none = await sb.run(['do', '--', 'cat', '/proc/net/dev']);
  const ifaces = (out: string) => out.split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean).sort();
  assert.deepEqual(ifaces(none.stdout), ['lo']);
  const host = await sb.run(['do', '--network', 'host', '--', 'readlink', '/proc/self/ns/net']);
  assert.equal(host.stdout.trim(), fs.readlinkSync('/proc/self/ns/net'));
});

test('do --root uses another directory as the root', async () => {
  const root = await sb.rootfs();
  const r = await sb.run(['do', '--root', root, '--cwd', '/', '--', 'ls', '/bin/sh']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '/bin/sh\n');
  const bad = await sb.run(['do', '--network', 'bridge', '--', 'true']);
  assert.match(bad.stderr, /invalid network type "bridge"/);
  const none = await sb.run(['do']);
  assert.match(none.stderr, /"do" requires a command/);
});
