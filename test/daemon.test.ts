// The daemon: exactly one per root, gone when idle, and a kill -9 at any point loses nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, alive, monitorOf, until } from './helpers/runa.js';

const sandboxes: Sandbox[] = [];
const make = (name: string) => { const s = new Sandbox(name); sandboxes.push(s); return s; };
after(async () => {
  for (const sb of sandboxes) {
    const { leftovers, mounts } = await sb.cleanup();
    assert.deepEqual(leftovers, []);
    assert.deepEqual(mounts, []);
  }
});

function daemonsOf(sb: Sandbox): number[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return argv.includes('daemon') && argv.includes(sb.root);
    } catch { return false; }
  }).map(Number);
}

test('20 CLIs started at once start exactly one daemon', async () => {
  const sb = make('singleton');
  const results = await Promise.all(Array.from({ length: 20 }, () => sb.run(['delete', '--force', 'nothing-here'])));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  // Losers of the lock race exit at once; wait for them to be gone, then count.
  await until(() => daemonsOf(sb).length === 1, 'one daemon left');
  assert.equal(daemonsOf(sb)[0], sb.daemonPid());
  assert.equal(fs.statSync(path.join(sb.root, 'runa.sock')).mode & 0o777, 0o600, 'socket is 0600');
});

test('the daemon leaves after its idle grace period when it has no containers', async () => {
  const sb = make('idle');
  const env = { RUNA_DAEMON_IDLE_MS: '200' };
  assert.equal((await sb.run(['delete', '-f', 'x'], { env })).code, 0);
  const pid = sb.daemonPid();
  assert.ok(pid && alive(pid));
  await until(() => !alive(pid!), 'idle daemon exits');
  assert.equal(fs.existsSync(path.join(sb.root, 'runa.sock')), false, 'socket removed');
});

test('the daemon stays while a container exists', async () => {
  const sb = make('stay');
  const env = { RUNA_DAEMON_IDLE_MS: '100' };
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['create', '-b', bundle, 'keep'], { env })).code, 0);
  const pid = sb.daemonPid()!;
  // Several grace periods pass with a container present: still there.
  await new Promise((r) => setTimeout(r, 600));
  assert.ok(alive(pid), 'daemon with a container stays');
  assert.equal((await sb.run(['delete', 'keep'], { env })).code, 0);
  await until(() => !alive(pid), 'daemon leaves once the last container is gone');
});

test('kill -9 of the daemon loses nothing: containers in every state are re-adopted', async () => {
  const sb = make('adopt');
  const state = async (id: string) => JSON.parse((await sb.run(['state', id])).stdout);
  const tmpfs = (s: any) => s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' });
  const created = await sb.bundle(['sh', '-c', 'exit 0']);
  const sleeper = await sb.bundle(['sleep', '1000']);
  const five = await sb.bundle(['sh', '-c', 'exit 5']);
  const later = await sb.bundle(['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.01; done; exit 42'], tmpfs);

  assert.equal((await sb.run(['create', '-b', created, 'a-created'])).code, 0);
  assert.equal((await sb.run(['run', '-d', '-b', sleeper, 'b-running'])).code, 0);
  assert.equal((await sb.run(['run', '-d', '-b', five, 'c-stopped'])).code, 0);
  await until(async () => (await state('c-stopped')).status === 'stopped', 'c stopped');
  assert.equal((await sb.run(['run', '-d', '-b', later, 'd-exits-later'])).code, 0);
  const dInit = (await state('d-exits-later')).pid;
  const dMonitor = monitorOf(dInit);

  const oldDaemon = sb.daemonPid()!;
  process.kill(oldDaemon, 'SIGKILL');
  await until(() => !alive(oldDaemon), 'daemon dead');

  // With no daemon, d's process exits: its monitor records the status on disk.
  fs.writeFileSync(`/proc/${dInit}/root/tmp/go`, '');
  await until(() => !alive(dMonitor), 'd exited');

  // state/list answer from disk and the monitors' truth, with no daemon running.
  const listed = JSON.parse((await sb.run(['list', '--format', 'json'])).stdout);
  const status = Object.fromEntries(listed.map((s: any) => [s.id, s.status]));
  assert.deepEqual(status, { 'a-created': 'created', 'b-running': 'running', 'c-stopped': 'stopped', 'd-exits-later': 'stopped' });
  assert.equal(sb.daemonPid() === oldDaemon && alive(oldDaemon), false);

  // The next call starts a daemon that re-adopts all four.
  const waitD = await sb.run(['wait', 'd-exits-later']);
  assert.deepEqual(JSON.parse(waitD.stdout), { id: 'd-exits-later', exitStatus: 42 });
  assert.notEqual(sb.daemonPid(), oldDaemon);
  assert.deepEqual(JSON.parse((await sb.run(['wait', 'c-stopped'])).stdout).exitStatus, 5);

  assert.equal((await sb.run(['start', 'a-created'])).code, 0, 'a created container can still be started');
  assert.equal(JSON.parse((await sb.run(['wait', 'a-created'])).stdout).exitStatus, 0);

  const waitB = sb.run(['wait', 'b-running']);
  assert.equal((await sb.run(['kill', 'b-running', 'KILL'])).code, 0, 'the running container is still controllable');
  assert.equal(JSON.parse((await waitB).stdout).exitStatus, 137);

  for (const id of ['a-created', 'b-running', 'c-stopped', 'd-exits-later']) assert.equal((await sb.run(['delete', id])).code, 0, id);
  assert.equal((await sb.run(['list', '-q'])).stdout, '');
});

test('a daemon killed while a container is running and a monitor killed -9 are both accounted for', async () => {
  const sb = make('lost');
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'm'])).code, 0);
  const init = JSON.parse((await sb.run(['state', 'm'])).stdout).pid;
  const monitor = monitorOf(init);
  process.kill(monitor, 'SIGKILL');
  await until(() => !alive(init), 'the init dies with its monitor');
  const w = await sb.run(['wait', 'm']);
  assert.equal(JSON.parse(w.stdout).exitStatus, 137);
  assert.equal(JSON.parse((await sb.run(['state', 'm'])).stdout).status, 'stopped');
  assert.equal((await sb.run(['delete', 'm'])).code, 0);
});
