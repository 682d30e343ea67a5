// checkpoint/restore through CRIU with runc's flags. On this project's kernel CRIU cannot start
// (`criu check` fails on the vDSO): runa must fail with CRIU's own reason and change nothing.
// Where CRIU runs (the qemu guest), test/checkpoint-guest.test.ts checkpoints and restores for real.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox } from './helpers/runa.js';

const sb = new Sandbox('checkpoint');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const check = spawnSync('criu', ['check'], { encoding: 'utf8' });
const haveCriu = !check.error;
/** CRIU's first error line for this host, if it cannot work here. */
const criuError = haveCriu ? (check.stdout + check.stderr).split('\n').find((l) => l.startsWith('Error (')) : undefined;

test('checkpoint --help and restore --help exit 0 (podman probes them)', async () => {
  const c = await sb.run(['checkpoint', '--help']);
  assert.equal(c.code, 0);
  assert.match(c.stdout, /--image-path/);
  assert.match(c.stdout, /--leave-running/);
  assert.equal((await sb.run(['restore', '--help'])).code, 0);
});

test('checkpoint of a container that is not running is refused and creates nothing', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['create', '-b', bundle, 'idle'])).code, 0);
  const images = path.join(sb.dir, 'idle-images');
  const r = await sb.run(['checkpoint', '--image-path', images, 'idle']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot checkpoint container "idle" in state created/);
  assert.equal(fs.existsSync(images), false);
  assert.match((await sb.run(['checkpoint', 'ghost'])).stderr, /container does not exist/);
  assert.match((await sb.run(['checkpoint', '--manage-cgroups-mode', 'sometimes', 'idle'])).stderr, /manage-cgroups-mode/);
  assert.equal((await sb.run(['delete', 'idle'])).code, 0);
});

test('checkpoint of a running container: CRIU\'s verdict, and nothing changed when it cannot work', { skip: !haveCriu && 'criu not installed: apt-get install criu' }, async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'c1'])).code, 0);
  const before = JSON.parse((await sb.run(['state', 'c1'])).stdout);
  const images = path.join(sb.dir, 'c1-images');
  const r = await sb.run(['checkpoint', '--leave-running', '--image-path', images, 'c1']);
  if (criuError) {
    assert.equal(r.code, 1);
    // CRIU's own reason, as `criu check` gives it on this host.
    assert.match(r.stderr, /^checkpoint: criu dump failed: Error \(/);
    assert.ok(r.stderr.includes(criuError.replace(/^Error \([^)]*\): /, '')), `${r.stderr} names ${criuError}`);
    assert.equal(fs.existsSync(images), false, 'the image dir runa made is gone again');
  } else {
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(images, 'inventory.img')));
    fs.rmSync(images, { recursive: true, force: true });
  }
  const after = JSON.parse((await sb.run(['state', 'c1'])).stdout);
  assert.deepEqual([after.status, after.pid], [before.status, before.pid], 'still running, the same process');
  assert.equal((await sb.run(['exec', 'c1', 'true'])).code, 0);
  assert.equal((await sb.run(['delete', '-f', 'c1'])).code, 0);
});

test('restore: CRIU\'s reason where it cannot work', { skip: (!haveCriu || !criuError) && 'CRIU works here or is missing' }, async () => {
  const r = await sb.run(['restore', '--image-path', path.join(sb.dir, 'none'), 'r1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^restore: criu cannot work on this host: Error \(/);
  assert.equal((await sb.run(['state', 'r1'])).code, 1, 'nothing was created');
});

test('restore --no-pivot: parsed; with a [r]private root propagation refused in runc\'s words before CRIU, nothing created', async () => {
  const priv = await sb.bundle(['true'], (s) => { s.linux.rootfsPropagation = 'rprivate'; });
  const r = await sb.run(['restore', '--no-pivot', '-b', priv, '--image-path', path.join(sb.dir, 'none'), 'np1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /restore --no-pivot: rootfsPropagation of \[r\]private is not safe without pivot_root/);
  assert.equal((await sb.run(['state', 'np1'])).code, 1, 'nothing was created');
  // Without it the flag is taken, and restore says what it always says here.
  const plain = await sb.bundle(['true']);
  const p = await sb.run(['restore', '--no-pivot', '-b', plain, '--image-path', path.join(sb.dir, 'none'), 'np2']);
  assert.equal(p.code, 1);
  assert.doesNotMatch(p.stderr, /flag provided but not defined|pivot/, p.stderr);
  assert.match(p.stderr, /^restore: /);
  assert.equal((await sb.run(['state', 'np2'])).code, 1, 'nothing was created');
});

test('restore: runc\'s checks of its flags come before CRIU and make nothing', async () => {
  const bundle = await sb.bundle(['true']);
  const images = path.join(sb.dir, 'none');
  const mode = await sb.run(['restore', '--manage-cgroups-mode', 'sometimes', '-b', bundle, '--image-path', images, 'f1']);
  assert.equal(mode.code, 1);
  assert.match(mode.stderr, /invalid manage-cgroups-mode value/);
  const ns = await sb.run(['restore', '--empty-ns', 'pid', '-b', bundle, '--image-path', images, 'f1']);
  assert.equal(ns.code, 1);
  assert.match(ns.stderr, /namespace "pid" is not supported/);
  assert.equal((await sb.run(['state', 'f1'])).code, 1, 'nothing was created');
  assert.equal(fs.existsSync(images), false, 'no image dir made');
  // --empty-ns network is runc's one namespace (always made empty): taken, and CRIU answers as it always does here.
  const net = await sb.run(['restore', '--empty-ns', 'network', '-b', bundle, '--image-path', images, 'f1']);
  assert.equal(net.code, 1);
  assert.doesNotMatch(net.stderr, /not supported/);
});
