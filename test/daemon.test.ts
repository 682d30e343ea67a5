// The daemon: exactly one per root, gone when idle, and a kill -9 at any point loses nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Sandbox, alive, monitorOf, runaBin, until } from './helpers/runa.js';
import { runToFiles } from './helpers/users.js';

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
  const isDaemon = (p: string | number) => {
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return argv.includes('daemon') && argv.includes(sb.root);
    } catch { return false; }
  };
  // A daemon's own child between its fork and its exec (the lock holder it spawns at start, for
  // one) shows the daemon's command line for that moment: a child of a daemon is not one.
  const parentOf = (p: string) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch { return 0; }
  };
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => isDaemon(p) && !isDaemon(parentOf(p))).map(Number);
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

/** The cpu controller's directory for a throttled cgroup of the test's own (v1 cpu, or v2 cpu.max), or null. */
function throttled(name: string, percent: number): { dir: string; remove(): void } | null {
  const v1 = '/sys/fs/cgroup/cpu';
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') && fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('cpu') ? '/sys/fs/cgroup' : null;
  const base = fs.existsSync(path.join(v1, 'cpu.cfs_quota_us')) ? v1 : v2;
  if (!base) return null;
  const dir = path.join(base, name);
  fs.mkdirSync(dir, { recursive: true });
  if (base === v1) {
    fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), '100000');
    fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(percent * 1000));
  } else fs.writeFileSync(path.join(dir, 'cpu.max'), `${percent * 1000} 100000`);
  return { dir, remove: () => { try { fs.rmdirSync(dir); } catch { /* busy: left for the after hook's report */ } } };
}

test('a daemon slow to start (a loaded or emulated host) is waited for, not started again and again', async (t) => {
  const sb = make('slowstart');
  // The front end, and so the daemon it starts, on 15% of one CPU: Node.js then takes a second or more to
  // reach its lock, where the front end used to start another daemon every 300 ms.
  const cg = throttled(`runa-test-slowstart-${process.pid}`, 15);
  if (!cg) { t.skip('no cpu controller to throttle with'); return; }
  try {
    const seen = new Set<number>();
    let watching = true;
    const watch = (async () => { while (watching) { for (const p of daemonsOf(sb)) seen.add(p); await new Promise((r) => setTimeout(r, 20)); } })();
    const r = await runToFiles('sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec ${runaBin} --root ${sb.root} delete --force nothing-here`],
      { out: path.join(sb.dir, 'slow-out'), err: path.join(sb.dir, 'slow-err') }, { env: { ...process.env, RUNA_DAEMON_IDLE_MS: '60000' }, timeoutMs: 90_000 });
    watching = false;
    await watch;
    assert.equal(r.code, 0, r.stderr);
    t.diagnostic(`${seen.size} daemon process(es) seen while the command ran`);
    assert.equal(seen.size, 1, `one daemon started, not ${seen.size}`);
    // Out of the throttled cgroup before it goes (the daemon lives on to its idle timeout).
    const pid = sb.daemonPid();
    if (pid) fs.writeFileSync(path.join(path.dirname(cg.dir), 'cgroup.procs'), String(pid));
    for (const p of fs.readFileSync(path.join(cg.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try { fs.writeFileSync(path.join(path.dirname(cg.dir), 'cgroup.procs'), p); } catch { /* gone */ }
    }
  } finally {
    cg.remove();
  }
});

/** A runa command from new namespaces of its own (`unshare` flags), through the front end. */
let nsRuns = 0;
function runIn(sb: Sandbox, unshare: string[], args: string[]) {
  const n = ++nsRuns;
  return runToFiles('unshare', [...unshare, '--', runaBin, '--root', sb.root, ...args],
    { out: path.join(sb.dir, `ns-out-${n}`), err: path.join(sb.dir, `ns-err-${n}`) }, { env: { ...process.env, RUNA_DAEMON_IDLE_MS: '60000' } });
}

test('one daemon per root whatever the callers\' namespaces: concurrent starts from the host and from new network, mount and user namespaces', async () => {
  const sb = make('nsdaemons');
  const bundle = await sb.bundle(['sleep', '1000']);
  for (let round = 0; round < 4; round++) {
    const ids = Array.from({ length: 6 }, (_, i) => `r${round}c${i}`);
    const results = await Promise.all(ids.map((id, i) => {
      const args = ['run', '-d', '-b', bundle, id];
      // An abstract-socket lock belongs to one network namespace: a new one each for half of them.
      if (i % 3 === 1) return runIn(sb, ['--net'], args);
      if (i % 3 === 2) return runIn(sb, ['--mount', '--net'], args);
      return sb.run(args);
    }));
    results.forEach((r, i) => assert.equal(r.code, 0, `${ids[i]}: ${r.stderr}`));
    await until(() => daemonsOf(sb).length === 1, 'one daemon left');
    assert.equal(daemonsOf(sb)[0], sb.daemonPid());
    const listed = (await sb.run(['list', '-q'])).stdout.trim().split('\n');
    for (const id of ids) assert.ok(listed.includes(id), `${id} is known to the daemon`);
    // Every container's exec works through the one daemon (no exec dir lost to a second one).
    for (const id of ids) assert.equal((await sb.run(['exec', id, 'true'])).code, 0, id);
    for (const id of ids) assert.equal((await sb.run(['delete', '-f', id])).code, 0);
    // The next round starts from no daemon at all.
    const d = sb.daemonPid()!;
    process.kill(d, 'SIGTERM');
    await until(() => !alive(d), 'the daemon gone');
  }
  // From a user namespace of its own (root mapped to root: the same files), the same lock.
  const u = await runIn(sb, ['--user', '--map-root-user', '--net'], ['delete', '-f', 'none']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal((await sb.run(['delete', '-f', 'none'])).code, 0);
  await until(() => daemonsOf(sb).length === 1, 'one daemon');
});

test('a --root of any length: the socket is bound and reached through a directory fd (sun_path holds 107 bytes)', async () => {
  const sb = make('longroot');
  const long = path.join(sb.dir, 'l'.repeat(150), 'state');
  fs.mkdirSync(long, { recursive: true });
  const bundle = await sb.bundle(['sleep', '1000']);
  const run = (args: string[]) => runToFiles(runaBin, ['--root', long, ...args], { out: path.join(sb.dir, `lr-${args[0]}-out`), err: path.join(sb.dir, `lr-${args[0]}-err`) });
  const strays = () => fs.readdirSync(path.dirname(sb.dir)).filter((n) => n.startsWith(path.basename(sb.dir)) && n !== path.basename(sb.dir));
  const before = strays();
  const r = await run(['run', '-d', '-b', bundle, 'lr']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await run(['exec', 'lr', 'true'])).code, 0);
  assert.match((await run(['state', 'lr'])).stdout, /"status": "running"/);
  assert.equal((await run(['delete', '-f', 'lr'])).code, 0);
  assert.ok(fs.statSync(path.join(long, 'runa.sock')).isSocket(), 'the socket is where it belongs');
  assert.deepEqual(strays(), before, 'no socket bound at a path cut short');
  const pid = Number(fs.readFileSync(path.join(long, 'daemon.pid'), 'utf8'));
  process.kill(pid, 'SIGTERM');
  await until(() => !alive(pid), 'the daemon gone');
});

test('a daemon whose socket is removed or replaced leaves at once; the next command starts a new one', async () => {
  const sb = make('sockgone');
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'sg'])).code, 0);
  const first = sb.daemonPid()!;
  fs.unlinkSync(path.join(sb.root, 'runa.sock'));
  await until(() => !alive(first), 'the daemon without its socket leaves', 3000);
  // The container goes on, and the next daemon (an exec starts one) adopts it.
  assert.equal((await sb.run(['exec', 'sg', 'true'])).code, 0);
  assert.match((await sb.run(['state', 'sg'])).stdout, /"status": "running"/);
  const second = sb.daemonPid()!;
  assert.notEqual(second, first);
  // A socket put over it by someone else: the same.
  fs.renameSync(path.join(sb.root, 'runa.sock'), path.join(sb.root, 'moved.sock'));
  fs.writeFileSync(path.join(sb.root, 'runa.sock'), 'not a socket');
  await until(() => !alive(second), 'the daemon whose socket was replaced leaves', 3000);
  fs.rmSync(path.join(sb.root, 'moved.sock'));
  fs.rmSync(path.join(sb.root, 'runa.sock'));
  assert.equal((await sb.run(['delete', '-f', 'sg'])).code, 0);
});

test('a lock file that is a symlink, a FIFO or another user\'s is refused with a clear error', async () => {
  const sb = make('badlock');
  const lock = path.join(sb.root, 'daemon.lock');
  fs.mkdirSync(sb.root, { recursive: true });
  const target = path.join(sb.dir, 'elsewhere');
  fs.writeFileSync(target, '');
  fs.symlinkSync(target, lock);
  const node = spawnSync(process.execPath, [path.resolve('bin/runa.js'), '--root', sb.root, 'daemon', '--foreground'], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(node.status, 0);
  assert.match(node.stderr, /cannot take the lock of .*: .*daemon\.lock is a symbolic link/);
  fs.rmSync(lock);
  spawnSync('mkfifo', [lock]);
  const fifo = spawnSync(process.execPath, [path.resolve('bin/runa.js'), '--root', sb.root, 'daemon', '--foreground'], { encoding: 'utf8', timeout: 10000 });
  assert.match(fifo.stderr, /daemon\.lock is not a regular file/);
  fs.rmSync(lock);
  fs.writeFileSync(lock, '');
  fs.chownSync(lock, 65534, 65534);
  const other = spawnSync(process.execPath, [path.resolve('bin/runa.js'), '--root', sb.root, 'daemon', '--foreground'], { encoding: 'utf8', timeout: 10000 });
  assert.match(other.stderr, /daemon\.lock belongs to uid 65534, not to uid 0/);
  fs.rmSync(lock);
  assert.equal(daemonsOf(sb).length, 0, 'no daemon started');
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
