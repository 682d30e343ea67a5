// The basic OCI lifecycle through the whole architecture: CLI → bus → daemon → nsinit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until, alive } from './helpers/runa.js';

const sb = new Sandbox('lifecycle');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, [], 'no process left behind');
  assert.deepEqual(mounts, [], 'no mount left behind');
});

const state = async (id: string) => {
  const r = await sb.run(['state', id]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

test('run exits with the container process status', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  const r = await sb.run(['run', '--bundle', bundle, 'exit3']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const s = await sb.run(['state', 'exit3']);
  assert.notEqual(s.code, 0, 'run without -d deletes the container afterwards');
});

test('run exits 128+signal when the process is killed by a signal', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  const running = sb.run(['run', '-b', bundle, 'killed']);
  await until(async () => (await sb.run(['state', 'killed'])).stdout.includes('"running"'), 'running');
  assert.equal((await sb.run(['kill', 'killed', 'KILL'])).code, 0);
  const r = await running;
  assert.equal(r.code, 137, r.stderr);
});

test('create → state → start → running → kill → stopped → delete → does not exist', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  const pidFile = path.join(sb.dir, 'c1.pid');
  const c = await sb.run(['create', '--bundle', bundle, '--pid-file', pidFile, 'c1']);
  assert.equal(c.code, 0, c.stderr);
  const created = await state('c1');
  assert.equal(created.status, 'created');
  assert.equal(created.id, 'c1');
  assert.equal(created.bundle, bundle);
  assert.equal(created.pid, Number(fs.readFileSync(pidFile, 'utf8')), 'state pid is the init\'s, as in --pid-file');
  // The init waits at the gate: it is still nsinit, not yet `sleep`.
  const init = created.pid;
  assert.match(fs.readFileSync(`/proc/${init}/comm`, 'utf8'), /nsinit/);
  const monitor = JSON.parse(fs.readFileSync(path.join(sb.root, 'c1', 'state.json'), 'utf8')).monitorPid;
  assert.ok(alive(monitor));

  const s = await sb.run(['start', 'c1']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal((await state('c1')).status, 'running');
  assert.equal(fs.readFileSync(`/proc/${init}/comm`, 'utf8').trim(), 'sleep');

  // Really in new pid, mount, uts, ipc and net namespaces.
  for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net']) {
    assert.notEqual(fs.readlinkSync(`/proc/${init}/ns/${ns}`), fs.readlinkSync(`/proc/self/ns/${ns}`), `${ns} namespace is new`);
  }
  // The monitor stands for the container in every namespace but pid and mount.
  for (const ns of ['uts', 'ipc', 'net']) {
    assert.equal(fs.readlinkSync(`/proc/${monitor}/ns/${ns}`), fs.readlinkSync(`/proc/${init}/ns/${ns}`), `monitor shares ${ns}`);
  }

  const again = await sb.run(['start', 'c1']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /cannot start container "c1" in state running/);

  const k = await sb.run(['kill', 'c1', 'KILL']);
  assert.equal(k.code, 0, k.stderr);
  await until(async () => (await state('c1')).status === 'stopped', 'stopped');
  await until(() => !alive(monitor), 'the monitor exits with its container');

  const k2 = await sb.run(['kill', 'c1', '9']);
  assert.equal(k2.code, 1);
  assert.match(k2.stderr, /container not running/);
  const kall = await sb.run(['kill', '--all', 'c1', '9']);
  assert.equal(kall.code, 0, 'kill --all on a stopped container is fine (runc)');

  const d = await sb.run(['delete', 'c1']);
  assert.equal(d.code, 0, d.stderr);
  const gone = await sb.run(['state', 'c1']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /container does not exist/);
  assert.equal(fs.existsSync(path.join(sb.root, 'c1')), false);
});

test('kill -9 of a running container: wait reports 137', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '--bundle', bundle, 'w1'])).code, 0);
  assert.equal((await state('w1')).status, 'running');
  assert.equal((await sb.run(['kill', 'w1', '0'])).code, 0, 'signal 0: is it there (runc)');
  const waiter = sb.run(['wait', 'w1']);
  assert.equal((await sb.run(['kill', 'w1', 'SIGKILL'])).code, 0);
  const w = await waiter;
  assert.equal(w.code, 0, w.stderr);
  assert.deepEqual(JSON.parse(w.stdout), { id: 'w1', exitStatus: 137 });
  assert.match((await sb.run(['kill', 'w1', '0'])).stderr, /container not running/);
  assert.equal((await sb.run(['delete', 'w1'])).code, 0);
});

test('a created container is deleted like runc does (its waiting init killed)', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['create', '-b', bundle, 'c2'])).code, 0);
  const pid = (await state('c2')).pid;
  const d = await sb.run(['delete', 'c2']);
  assert.equal(d.code, 0, d.stderr);
  await until(() => !alive(pid), 'monitor gone');
  assert.equal(fs.existsSync(path.join(sb.root, 'c2')), false);
});

test('delete of a running container needs --force', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'c3'])).code, 0);
  const d = await sb.run(['delete', 'c3']);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /cannot delete container "c3" in state running/);
  assert.equal((await state('c3')).status, 'running', 'a refused delete changes nothing');
  const f = await sb.run(['delete', '--force', 'c3']);
  assert.equal(f.code, 0, f.stderr);
  assert.match((await sb.run(['state', 'c3'])).stderr, /container does not exist/);
});

test('delete of a missing container: error, but not with --force', async () => {
  const d = await sb.run(['delete', 'nope']);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /container does not exist/);
  assert.equal((await sb.run(['delete', '-f', 'nope'])).code, 0);
});

test('a failed start (missing program) reports the exec error', async () => {
  const bundle = await sb.bundle(['/no/such/program']);
  assert.equal((await sb.run(['create', '-b', bundle, 'c4'])).code, 0);
  const s = await sb.run(['start', 'c4']);
  assert.equal(s.code, 1);
  assert.match(s.stderr, /exec "\/no\/such\/program": No such file or directory/);
  await until(async () => (await state('c4')).status === 'stopped', 'stopped');
  assert.equal((await sb.run(['delete', 'c4'])).code, 0);
});

test('run: nsinit starts the program itself (--start) unless a start hook must run between', async () => {
  const monitorArgs = async (id: string) => {
    const pid = (await state(id)).pid as number;
    const ppid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    return fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').split('\0');
  };
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'at-once'])).code, 0);
  assert.equal((await state('at-once')).status, 'running');
  assert.ok((await monitorArgs('at-once')).includes('--start'));
  // The history is one the machines allow: created → running with no start of the daemon's.
  const check = await sb.run(['debug', '--check', 'at-once']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  // Its companions follow as after any start: the gofer serves, the init runs.
  const tree = (await sb.run(['debug', 'at-once'])).stdout;
  assert.match(tree, /gofer: running/);
  assert.match(tree, /init: running/);
  // create + start keeps the gate for `start`; a poststart hook keeps it for the daemon.
  const marker = path.join(sb.dir, 'poststart-ran');
  const hooked = await sb.bundle(['sleep', '1000'], (s) => { s.hooks = { poststart: [{ path: '/bin/sh', args: ['sh', '-c', `touch ${marker}`] }] }; });
  assert.equal((await sb.run(['run', '-d', '-b', hooked, 'hooked'])).code, 0);
  assert.ok(!(await monitorArgs('hooked')).includes('--start'));
  assert.ok(fs.existsSync(marker), 'the poststart hook ran');
  assert.equal((await sb.run(['create', '-b', bundle, 'two-step'])).code, 0);
  assert.equal((await state('two-step')).status, 'created');
  assert.ok(!(await monitorArgs('two-step')).includes('--start'));
  for (const id of ['at-once', 'hooked', 'two-step']) assert.equal((await sb.run(['delete', '-f', id])).code, 0);
});

test('run of a missing program: the exec error, status 1, nothing left (nsinit started it)', async () => {
  const bundle = await sb.bundle(['/no/such/program']);
  const r = await sb.run(['run', '-b', bundle, 'missing']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^starting container process: exec "\/no\/such\/program": No such file or directory/);
  assert.notEqual((await sb.run(['state', 'missing'])).code, 0, 'run removed it');
});

test('hostname, cwd and env come from config.json', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'hostname; pwd; echo $FOO; id -u'], (s) => {
    s.hostname = 'box';
    s.process.cwd = '/tmp';
    s.process.env.push('FOO=bar');
  });
  const r = await sb.run(['run', '-b', bundle, 'c5']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'box\n/tmp\nbar\n0\n');
});

test('the rootfs is read-only when root.readonly is set, with /dev populated', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'touch /x 2>/dev/null && echo writable || echo readonly; ls /dev; readlink /dev/fd']);
  const r = await sb.run(['run', '-b', bundle, 'c6']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'readonly');
  for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'mqueue', 'ptmx', 'stdin', 'stdout', 'stderr']) {
    assert.ok(lines.includes(dev), `/dev/${dev} exists: ${lines.join(' ')}`);
  }
  assert.equal(lines.at(-1), '/proc/self/fd');
});

test('list shows containers as a table, as JSON and quietly', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['create', '-b', bundle, 'l1'])).code, 0);
  const table = await sb.run(['list']);
  assert.match(table.stdout, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\s+SANDBOX\n/);
  assert.match(table.stdout, /\nl1\s+\d+\s+created\s.*\sl1\n/, 'a lone container is its own sandbox');
  const json = JSON.parse((await sb.run(['list', '--format', 'json'])).stdout);
  assert.equal(json.find((s: any) => s.id === 'l1').status, 'created');
  assert.equal((await sb.run(['list', '-q'])).stdout, 'l1\n');
  assert.equal((await sb.run(['delete', 'l1'])).code, 0);
});
