// nsinit's criu-restore op on its own, with a stand-in for CRIU (a shell script: the op runs
// whatever the plan's `arg`s name): how the child's failures, CRIU's status and its pid file
// are reported, and a restored process followed by pidfd as the monitor's own (the real CRIU
// runs in test/checkpoint-guest.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { PlanOp } from '../src/nsinit/plan.js';
import { useNsinit } from './helpers/nsinit.js';

const h = useNsinit({ prefix: 'runa-nsinit-criu-' });
const { tempDir, setupError, runNsinit, connect, createdPid, defer } = h;

/** The process runs (not gone, not a zombie its reaper has yet to take). */
function running(pid: number): boolean {
  try { return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
}

/** A plan that runs `sh -c SCRIPT` as CRIU would be run, with PIDFILE in the state dir. */
function plan(dir: string, script: string, sibling: boolean): PlanOp[] {
  return [
    { op: 'statedir', path: dir },
    { op: 'criu-restore', pidFile: path.join(dir, 'restore.pid'), sibling },
    { op: 'env', entry: 'PATH=/usr/sbin:/usr/bin:/sbin:/bin' },
    ...['/bin/sh', '-c', script].map((value) => ({ op: 'arg', value }) as PlanOp),
    { op: 'exec' },
  ];
}

test('criu-restore: a failure of the child\'s ops, CRIU\'s status, a pid file without a pid', async () => {
  const dir = await tempDir('state');
  const noExec: PlanOp[] = [{ op: 'statedir', path: dir }, { op: 'criu-restore', pidFile: path.join(dir, 'restore.pid'), sibling: true }, { op: 'arg', value: '/nonexistent/criu' }, { op: 'exec' }];
  assert.equal(await setupError(noExec, dir), 'error\t2\texec "/nonexistent/criu": No such file or directory\n');
  assert.equal(await setupError(plan(dir, 'exit 3', true), dir), 'error\t5\tcriu restore: exited with status 3\n');
  assert.equal(await setupError(plan(dir, 'kill -9 $$', true), dir), 'error\t5\tcriu restore: killed by signal 9\n');
  assert.equal(await setupError(plan(dir, `echo nope > ${dir}/restore.pid`, true), dir),
    `error\t71\tcriu-restore: the pid file "${dir}/restore.pid" holds no pid ("nope\\n"): Protocol error\n`);
  assert.equal(await setupError(plan(dir, 'true', true), dir), `error\t2\tcriu-restore: open the pid file "${dir}/restore.pid": No such file or directory\n`);
  assert.equal(fs.existsSync(path.join(dir, 'monitor.sock')), false, 'the monitor removed its socket');
});

test('criu-restore with --restore-sibling: a process that is not the monitor\'s child is refused, and killed', async () => {
  const dir = await tempDir('state');
  const sync = await setupError(plan(dir, `sleep 1000 & echo $! > ${dir}/restore.pid`, true), dir);
  const m = /^error\t10\tcriu-restore: the restored process (\d+) is not the monitor's child: No child processes\n$/.exec(sync);
  assert.ok(m, sync);
  const pid = Number(m[1]);
  for (let i = 0; i < 100 && running(pid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(running(pid), false, 'the process CRIU left goes with the failure');
});

test('criu-restore without sibling: the restored process, reparented, is followed by pidfd: running at once, signals, exit', async () => {
  const dir = await tempDir('state');
  const run = await runNsinit(plan(dir, `sleep 1000 & echo $! > ${dir}/restore.pid`, false), dir);
  const pid = createdPid(await run.sync);
  defer(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  assert.equal(fs.existsSync(path.join(dir, 'restore.pid')), false, 'the pid file is read and removed');
  const client = await connect(path.join(dir, 'monitor.sock'));
  const hello = await client.next();
  assert.equal(hello.type, 'monitor.hello');
  assert.equal(hello.initPid, pid);
  assert.equal(hello.state, 'running', 'restored: no gate, no start');
  client.send({ type: 'monitor.start' });
  assert.deepEqual(await client.next(), { type: 'monitor.error', message: 'monitor.start: the process was already started' });
  client.send({ type: 'monitor.signal', signal: 15 });
  assert.deepEqual(await client.next(), { type: 'monitor.signalled', signal: 15 });
  // Not the monitor's child: its status is its reaper's (-1, as for fork-sibling).
  assert.deepEqual(await client.next(), { type: 'process.exited', exitStatus: -1, signal: 0 });
  assert.deepEqual(await run.exited, { code: 0, signal: null });
  assert.equal(running(pid), false);
});

test('criu-restore without sibling: a process gone as CRIU exits (its restored parent-death signal) fails the restore, in words that say so', async () => {
  const dir = await tempDir('state');
  const sync = await setupError(plan(dir, `sh -c 'exit 0' & echo $! > ${dir}/restore.pid; wait`, false), dir);
  assert.match(sync, /^error\t3\tcriu-restore: (pidfd_open \d+ \(the restored process\)|the restored process \d+ died as CRIU exited \(a parent-death signal\? restore an image the way its container was created: with --pid-file or without\)): No such process\n$/);
});
