// The hookpoint op: nsinit stops mid-setup, tells the spawner on fd 3 and waits for its answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, promises as fs, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { encodePlan, hookAnswer, parseSyncLine, type PlanOp } from '../src/nsinit/plan.js';
import { alive, containerPlan, ns, NSINIT, processesRunning, useNsinit } from './helpers/nsinit.js';

const h = useNsinit({ prefix: 'runa-nsinit-hooks-' });
const { defer, tempDir, runNsinit } = h;

/** A container plan with hookpoints where the runtime puts them: namespaces made, not yet pivoted. */
function hookedPlan(stateDir: string, hooks: PlanOp[]): PlanOp[] {
  return containerPlan(h.rootfs, stateDir, ['sh', '-c', 'exit 7'], { hostname: 'runa-hooks', env: ['PATH=/bin'], beforePivot: hooks });
}

const HOOKS: PlanOp[] = [
  { op: 'hookpoint', name: 'createRuntime' },
  { op: 'hookpoint', name: 'createContainer' },
];

function hookLine(line: string | null, name: string): number {
  const m = parseSyncLine(line ?? '');
  assert.ok(m && m.type === 'hook' && m.name === name, `expected hook ${name}, got ${JSON.stringify(line)}`);
  return m.pid;
}

test('two hookpoints before pivot_root: each answered ok in turn, then created', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const monitor = run.proc.pid!;

  const pid = hookLine(await run.channel.next(), 'createRuntime');
  // The child, in its new namespaces, with the setup before the hookpoint done...
  assert.notEqual(pid, monitor);
  assert.equal(Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]), monitor, 'parent is the monitor');
  for (const n of ['mnt', 'pid', 'uts', 'net']) assert.notEqual(ns(pid, n), ns('self', n), `child shares the ${n} namespace`);
  const mounts = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  assert.ok(mounts.includes(` ${h.rootfs}/proc `), 'proc is mounted in the child');
  // ...but not pivoted yet: its root is still the host's, rootfs still under it.
  assert.equal(readlinkSync(`/proc/${pid}/root`), '/');
  assert.ok(existsSync(`/proc/${pid}/root${h.rootfs}/bin/sh`));
  // While a hook runs, nsinit waits: nothing more comes, the monitor socket is bound.
  assert.ok(existsSync(path.join(stateDir, 'monitor.sock')));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(alive(pid));

  run.channel.answer(hookAnswer());
  assert.equal(hookLine(await run.channel.next(), 'createContainer'), pid);
  run.channel.answer('ok\n');
  const created = parseSyncLine((await run.channel.next()) ?? '');
  assert.deepEqual(created, { type: 'created', pid });
  assert.equal(await run.channel.next(), null, 'fd 3 is closed after created');
  // The process went on from the hookpoint to pivot_root and the gate.
  assert.notEqual(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'), mounts);
  assert.ok(!existsSync(`/proc/${pid}/root${h.rootfs}/bin/sh`), 'pivoted: rootfs is its /');
  assert.ok(existsSync(`/proc/${pid}/root/bin/sh`));

  // And it starts and exits as usual.
  const c = net.connect({ path: path.join(stateDir, 'monitor.sock') });
  defer(() => void c.destroy());
  let replies = '';
  c.on('data', (b: Buffer) => (replies += b.toString()));
  c.write('{"type":"monitor.start"}\n');
  assert.deepEqual(await run.exited, { code: 7, signal: null });
  assert.match(replies, /"process.started"[\s\S]*"process.exited","exitStatus":7/);
  assert.deepEqual(processesRunning(run.plan), []);
});

test('a failed hook: error 125 "hook NAME: message", exit 1, nothing left', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const pid = hookLine(await run.channel.next(), 'createRuntime');
  run.channel.answer('ok\n');
  assert.equal(hookLine(await run.channel.next(), 'createContainer'), pid);
  run.channel.answer(hookAnswer('boom'));
  assert.equal(await run.channel.next(), 'error\t125\thook createContainer: boom');
  assert.equal(await run.channel.next(), null);
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.ok(!alive(pid));
  assert.deepEqual(processesRunning(run.plan), []);
  assert.ok(!existsSync(path.join(stateDir, 'monitor.sock')));
  assert.ok(!existsSync(path.join(stateDir, 'exit')));
  assert.equal(run.stderr(), '');
});

test('the spawner closes fd 3 while a hook is pending: nsinit exits 1, nothing left', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const pid = hookLine(await run.channel.next(), 'createRuntime');
  run.channel.sock.destroy();
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.equal(run.stderr(), 'nsinit: hook createRuntime: the spawner closed fd 3 before answering\n');
  assert.ok(!alive(pid));
  assert.deepEqual(processesRunning(run.plan), []);
  assert.ok(!existsSync(path.join(stateDir, 'monitor.sock')));
});

test('a garbled answer fails create with EPROTO', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  hookLine(await run.channel.next(), 'createRuntime');
  run.channel.answer('maybe\n');
  assert.equal(await run.channel.next(), 'error\t71\thook createRuntime: garbled answer from the spawner "maybe"');
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(run.plan), []);

  // A line without end: refused once past 2047 bytes, even if the newline never comes.
  const stateDir2 = await tempDir('state');
  const long = await runNsinit(hookedPlan(stateDir2, HOOKS), stateDir2);
  hookLine(await long.channel.next(), 'createRuntime');
  long.channel.answer('fail\t' + 'x'.repeat(3000));
  assert.equal(await long.channel.next(), 'error\t71\thook createRuntime: answer from the spawner longer than 2047 bytes');
  assert.deepEqual(await long.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(long.plan), []);
});

test('the child killed while its hook runs: reported, nothing left', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const pid = hookLine(await run.channel.next(), 'createRuntime');
  process.kill(pid, 'SIGKILL');
  assert.equal(await run.channel.next(), 'error\t10\thook createRuntime: the child exited while the hook ran');
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(run.plan), []);
});

test('a hookpoint before fork is the monitor itself', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const plan = hookedPlan(stateDir, []);
  plan.splice(2, 0, { op: 'hookpoint', name: 'prestart' }); // after unshare, in the monitor
  const run = await runNsinit(plan, stateDir);
  const monitor = run.proc.pid!;
  assert.equal(hookLine(await run.channel.next(), 'prestart'), monitor);
  assert.notEqual(ns(monitor, 'uts'), ns('self', 'uts'));
  run.channel.answer('ok\n');
  const created = parseSyncLine((await run.channel.next()) ?? '');
  assert.equal(created?.type, 'created');
  run.proc.kill('SIGKILL');
  await run.exited;
});

test('a hookpoint needs fd 3 to be a socket, and a plain word as its name', { timeout: 30000 }, async () => {
  const dir = await tempDir('plan');
  const planFile = path.join(dir, 'plan');
  const statedir = path.join(dir, 'st');
  await fs.mkdir(statedir);
  await fs.writeFile(planFile, encodePlan([{ op: 'statedir', path: statedir }, { op: 'hookpoint', name: 'createRuntime' }, { op: 'fork' }]));

  // fd 3 closed: the error goes to stderr, before anything ran.
  const noFd = spawn(NSINIT, [planFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  noFd.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  assert.equal(await new Promise((resolve) => noFd.on('exit', resolve)), 1);
  assert.equal(err, 'nsinit: hookpoint "createRuntime": fd 3 is not open, nobody could answer: Bad file descriptor\n');

  // fd 3 a regular file: one-way, refused.
  const out = path.join(dir, 'sync');
  const fd = openSync(out, 'w');
  const fileFd = spawn(NSINIT, [planFile], { stdio: ['ignore', 'ignore', 'ignore', fd] });
  closeSync(fd);
  assert.equal(await new Promise((resolve) => fileFd.on('exit', resolve)), 1);
  assert.equal(readFileSync(out, 'utf8'),
    'error\t88\thookpoint "createRuntime": fd 3 is not a socket, nobody could answer: Socket operation on non-socket\n');
  assert.ok(!existsSync(path.join(statedir, 'monitor.sock')), 'statedir must not have run');

  const bad = await runNsinit(Buffer.from('hookpoint\0create runtime\0'), dir);
  assert.equal(await bad.channel.next(),
    `error\t22\thookpoint "create runtime": not a word of 1 to 64 letters, digits, '_', '.', '-': Invalid argument`);
  assert.deepEqual(await bad.exited, { code: 1, signal: null });
  assert.throws(() => encodePlan([{ op: 'hookpoint', name: 'a\tb' }]), /invalid name/);
});

test('parseSyncLine and hookAnswer', () => {
  assert.deepEqual(parseSyncLine('hook\tcreateRuntime\t42\n'), { type: 'hook', name: 'createRuntime', pid: 42 });
  assert.deepEqual(parseSyncLine('created\t7'), { type: 'created', pid: 7 });
  assert.deepEqual(parseSyncLine('error\t125\thook x: a\tb\n'), { type: 'error', errno: 125, message: 'hook x: a\tb' });
  assert.equal(parseSyncLine('hook\tx'), null);
  assert.equal(hookAnswer(), 'ok\n');
  assert.equal(hookAnswer('exit status 1\nstderr: no'), 'fail\texit status 1 stderr: no\n');
});
