// Drives native/nsinit directly with plans from encodePlan: setup, sync pipe, monitor socket, exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { type PlanOp } from '../src/nsinit/plan.js';
import { alive, containerPlan as plan, type ContainerOpts, ns, NSINIT, processesRunning, useNsinit } from './helpers/nsinit.js';

const h = useNsinit({ prefix: 'runa-nsinit-' });
const { defer, tempDir, runNsinit, connect, createdPid, openGate, start } = h;

const containerPlan = (stateDir: string, args: string[], opts: ContainerOpts = {}): PlanOp[] => plan(h.rootfs, stateDir, args, opts);

test('full container: created, namespaces, start, output, exit status, exit file', { timeout: 30000 }, async () => {
  // Longer than sun_path (108 bytes): nsinit binds relative to the state dir.
  const stateDir = await tempDir('state-' + 'x'.repeat(60) + '/' + 'y'.repeat(60));
  const link = h.unique('short');
  await fs.symlink(stateDir, link);
  defer(() => fs.rm(link, { force: true }));

  const run = await runNsinit(
    containerPlan(stateDir, ['sh', '-c', 'echo "hello from $(hostname) pid=$$ root=$(ls /root | wc -l)"; cat /proc/self/mounts >/dev/null; exit 3']),
    path.dirname(stateDir),
  );
  const initPid = createdPid(await run.sync);
  assert.ok(alive(initPid));
  assert.equal((await fs.stat(path.join(stateDir, 'monitor.sock'))).mode & 0o777, 0o600);

  // The child waits at the gate, already in its own namespaces.
  for (const n of ['pid', 'mnt', 'uts', 'ipc', 'net']) {
    assert.notEqual(ns(initPid, n), ns('self', n), `child shares the ${n} namespace`);
  }
  // The monitor shares the container's uts/ipc/net but keeps the host's mount and pid namespaces.
  const monitor = run.proc.pid!;
  for (const n of ['uts', 'ipc', 'net']) assert.equal(ns(monitor, n), ns(initPid, n));
  for (const n of ['mnt', 'pid']) assert.equal(ns(monitor, n), ns('self', n));

  const c = await openGate(path.join(link, 'monitor.sock'), { type: 'monitor.hello', pid: monitor, initPid, state: 'created' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 3, signal: 0 });
  assert.deepEqual(await run.exited, { code: 3, signal: null });
  assert.equal(run.stdout(), 'hello from runa-test pid=1 root=0\n');
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":3,"signal":0}');
  assert.ok(!existsSync(path.join(stateDir, 'exit.tmp')));
  assert.ok(!alive(initPid));
});

test('monitor.signal SIGKILL: exit status 137 and nsinit dies of SIGKILL too', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['sleep', '1000']), stateDir);
  const { initPid, client: c } = await start(run, stateDir);
  const ps = await connect(path.join(stateDir, 'monitor.sock'));
  assert.deepEqual(await ps.next(), { type: 'monitor.hello', pid: run.proc.pid, initPid, state: 'running' });
  c.send({ type: 'monitor.signal', signal: 9 });
  assert.deepEqual(await c.next(), { type: 'monitor.signalled', signal: 9 });
  const exitedMsg = { type: 'process.exited', exitStatus: 137, signal: 9 };
  assert.deepEqual(await c.next(), exitedMsg);
  assert.deepEqual(await ps.next(), exitedMsg); // every client is told
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":137,"signal":9}');
});

test('SIGKILL while created (before the gate opens) ends the monitor the same way', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['true']), stateDir);
  const initPid = createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  process.kill(initPid, 'SIGKILL');
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":137,"signal":9}');
});

test('SIGTERM to nsinit is forwarded to the process', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  // PID 1 of a pid namespace only receives signals it handles, hence the trap.
  const run = await runNsinit(containerPlan(stateDir, ['sh', '-c', 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.05; done']), stateDir);
  const { client: c } = await start(run, stateDir);
  while (!run.stdout().includes('ready')) await new Promise((r) => setTimeout(r, 20));
  run.proc.kill('SIGTERM');
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 42, signal: 0 });
  assert.deepEqual(await run.exited, { code: 42, signal: null });
  assert.equal(run.stdout(), 'ready\ngot TERM\n');
});

test('a failing op reports errno and message, nsinit exits 1 and leaves nothing behind', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const missing = `${h.rootfs}/no-such-dir`;
  const plan = containerPlan(stateDir, ['true'], {
    beforePivot: [{ op: 'mount', source: 'proc', target: missing, fstype: 'proc', flags: 0, data: '' }],
  });
  const run = await runNsinit(plan, stateDir);
  assert.equal(await run.sync, `error\t2\tmount "proc" on "${missing}": No such file or directory\n`);
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(run.plan), []);
  assert.ok(!existsSync(path.join(stateDir, 'monitor.sock')));
  assert.ok(!existsSync(path.join(stateDir, 'exit')));
});

test('a failing op in the monitor (before fork) is reported the same way', { timeout: 30000 }, async () => {
  const dir = await tempDir('state');
  const run = await runNsinit([{ op: 'statedir', path: `${dir}/missing` }, { op: 'fork' }], dir);
  assert.equal(await run.sync, `error\t2\topen "${dir}/missing": No such file or directory\n`);
  assert.deepEqual(await run.exited, { code: 1, signal: null });
});

test('malformed plans are refused before anything runs', { timeout: 30000 }, async () => {
  const dir = await tempDir('plan');
  const unknown = await runNsinit(Buffer.from(`statedir\0${dir}\0frobnicate\0`), dir);
  assert.equal(await unknown.sync, 'error\t22\tplan: unknown op "frobnicate": Invalid argument\n');
  assert.deepEqual(await unknown.exited, { code: 1, signal: null });
  assert.ok(!existsSync(path.join(dir, 'monitor.sock')), 'statedir must not have run');

  const truncated = await runNsinit(Buffer.from('mount\0a\0b\0'), dir);
  assert.equal(await truncated.sync, 'error\t22\tplan: op "mount" truncated: Invalid argument\n');
  assert.deepEqual(await truncated.exited, { code: 1, signal: null });

  const noNul = await runNsinit(Buffer.from('fork\0exec'), dir);
  assert.match(await noNul.sync, /^error\t22\tplan ".*": truncated/);

  const badNumber = await runNsinit(Buffer.from('umask\0abc\0'), dir);
  assert.equal(await badNumber.sync, 'error\t22\tumask "abc": not a number: Invalid argument\n');

  // Without fd 3 the error goes to stderr.
  const planFile = path.join(dir, 'bad');
  await fs.writeFile(planFile, 'nope\0');
  const proc = spawn(NSINIT, [planFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise((resolve) => proc.on('exit', resolve));
  assert.equal(code, 1);
  assert.equal(err, 'nsinit: plan: unknown op "nope": Invalid argument\n');
});

test('exec of a missing program: process.failed, then exit 127', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['no-such-program', 'x']), stateDir);
  createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.failed', message: 'exec "no-such-program": No such file or directory' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 127, signal: 0 });
  assert.deepEqual(await run.exited, { code: 127, signal: null });
});

// `nsinit --start` (runa run): the monitor opens the gate itself after `created`.
const runStarted = async (stateDir: string, args: string[]) => {
  const file = await h.writePlan(containerPlan(stateDir, args), stateDir);
  return h.spawnWithSync(NSINIT, ['--start', file], file);
};

test('--start: the program runs with no monitor.start, and its exit waits for the first client', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runStarted(stateDir, ['sh', '-c', 'echo started; exit 5']);
  const initPid = createdPid(await run.sync);
  // The program ran and exited with nobody attached: the exit file says so, the monitor waits.
  for (let i = 0; i < 500 && !existsSync(path.join(stateDir, 'exit')); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":5,"signal":0}');
  assert.equal(run.proc.exitCode, null, 'the monitor holds the exit until a client hears of it');
  assert.ok(!alive(initPid));
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.deepEqual(await c.next(), { type: 'monitor.hello', pid: run.proc.pid, initPid, state: 'running' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 5, signal: 0 });
  assert.deepEqual(await run.exited, { code: 5, signal: null });
  assert.equal(run.stdout(), 'started\n');
});

test('--start: a client already there is told of the exit as usual; a second start is refused', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runStarted(stateDir, ['sleep', '1000']);
  const initPid = createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.deepEqual(await c.next(), { type: 'monitor.hello', pid: run.proc.pid, initPid, state: 'running' });
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'monitor.error', message: 'monitor.start: the process was already started' });
  c.send({ type: 'monitor.signal', signal: 9 }); // pid 1 of its namespace: only SIGKILL ends a sleep
  assert.deepEqual(await c.next(), { type: 'monitor.signalled', signal: 9 });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
});

test('--start of a missing program: the hello says why, then the exit (127)', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runStarted(stateDir, ['no-such-program']);
  const initPid = createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.deepEqual(await c.next(), { type: 'monitor.hello', pid: run.proc.pid, initPid, state: 'running', startError: 'exec "no-such-program": No such file or directory' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 127, signal: 0 });
  assert.deepEqual(await run.exited, { code: 127, signal: null });
});

test('monitor protocol: errors keep the monitor serving, several clients at once', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['sleep', '1000']), stateDir);
  const initPid = createdPid(await run.sync);
  const sockPath = path.join(stateDir, 'monitor.sock');
  const a = await connect(sockPath);
  const b = await connect(sockPath);
  assert.equal((await a.next()).type, 'monitor.hello');
  assert.equal((await b.next()).type, 'monitor.hello');

  a.send('garbage');
  assert.equal((await a.next()).type, 'monitor.error');
  a.send({ type: 'monitor.frobnicate' });
  assert.deepEqual(await a.next(), { type: 'monitor.error', message: 'unknown request type "monitor.frobnicate"' });
  a.send({ type: 'monitor.signal' });
  assert.equal((await a.next()).type, 'monitor.error');
  a.send('{ "signal" : 0 , "type" : "monitor.signal" }'); // order and spacing do not matter
  assert.deepEqual(await a.next(), { type: 'monitor.signalled', signal: 0 });

  // A line over 4096 bytes gets an error and the connection is closed; others are unaffected.
  const long = await connect(sockPath);
  assert.equal((await long.next()).type, 'monitor.hello');
  long.send('x'.repeat(5000));
  assert.deepEqual(await long.next(), { type: 'monitor.error', message: 'request line longer than 4096 bytes' });
  assert.deepEqual(await long.next(), { type: 'eof' });

  b.send({ type: 'monitor.start' });
  assert.deepEqual(await b.next(), { type: 'process.started' });
  b.send({ type: 'monitor.start' });
  assert.equal((await b.next()).type, 'monitor.error');
  assert.ok(alive(initPid));

  a.send({ type: 'monitor.signal', signal: 15 }); // ignored by PID 1 without a handler
  assert.deepEqual(await a.next(), { type: 'monitor.signalled', signal: 15 });
  a.send({ type: 'monitor.signal', signal: 9 });
  assert.deepEqual(await a.next(), { type: 'monitor.signalled', signal: 9 });
  assert.deepEqual(await a.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await b.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
});

test('only stdio reaches the container: /proc/self/fd lists 0, 1, 2 and the fd ls opens', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  // An extra inherited fd (4) must not leak either.
  const run = await runNsinit(containerPlan(stateDir, ['ls', '/proc/self/fd']), stateDir, 1);
  const { client: c } = await start(run, stateDir);
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 0, signal: 0 });
  assert.deepEqual(await run.exited, { code: 0, signal: null });
  assert.deepEqual(run.stdout().trim().split('\n'), ['0', '1', '2', '3']);
});
