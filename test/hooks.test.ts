// src/hooks: order, argv/env/state a hook receives, timeouts, failures, best effort, and a hook
// run in the namespaces of another process (nsenter).
import { test, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runHooks, runHooksBestEffort, HookError, type Hook } from '../src/hooks/index.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'runa-hooks-'));
let seq = 0;
const children: ChildProcess[] = [];
const watchedPids: number[] = [];

const STATE = { ociVersion: '1.2.0', id: 'c1', status: 'creating', pid: 1234, bundle: '/tmp/bundle', annotations: { a: 'b' } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function dir(): string {
  return mkdtempSync(path.join(base, `t${++seq}-`));
}

const sh = (script: string, extra: Partial<Hook> = {}): Hook => ({ path: '/bin/sh', args: ['sh', '-c', script], ...extra });

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  }
  for (const p of watchedPids.splice(0)) {
    for (let i = 0; i < 100 && alive(p); i++) await sleep(10);
    assert.ok(!alive(p), `process ${p} left behind`);
  }
});

after(() => rmSync(base, { recursive: true, force: true }));

test('hooks run sequentially in listed order', async () => {
  const out = path.join(dir(), 'order');
  await runHooks('createRuntime', [
    sh(`sleep 0.05; echo 1 >> ${out}`),
    sh(`echo 2 >> ${out}`),
    sh(`echo 3 >> ${out}`),
  ], STATE);
  assert.equal(readFileSync(out, 'utf8'), '1\n2\n3\n');
  await runHooks('poststart', undefined, STATE);
  await runHooks('poststart', [], STATE);
});

test('a hook gets args (args[0] as argv[0]), exactly its env, and the state JSON on stdin', async () => {
  const d = dir();
  const script = path.join(d, 'hook.sh');
  writeFileSync(script, `#!/bin/sh\necho "$0 $@" > ${d}/argv\nenv > ${d}/env\ncat > ${d}/stdin\n`);
  chmodSync(script, 0o755);
  await runHooks('prestart', [{ path: script, args: [script, 'one', 'two words'], env: ['FOO=bar', 'EMPTY=', 'EQ=a=b'] }], STATE);
  assert.equal(readFileSync(path.join(d, 'argv'), 'utf8'), `${script} one two words\n`);
  const env = readFileSync(path.join(d, 'env'), 'utf8').trim().split('\n').filter((l) => !l.startsWith('PWD=')); // the shell adds PWD
  assert.deepEqual(env.sort(), ['EMPTY=', 'EQ=a=b', 'FOO=bar']);
  assert.deepEqual(JSON.parse(readFileSync(path.join(d, 'stdin'), 'utf8')), STATE);

  // argv[0] proper (a script's $0 is always its path): /proc/self/cmdline of a non-script hook
  await runHooks('prestart', [{ path: '/bin/sh', args: ['my-argv0', '-c', `tr '\\0' ' ' < /proc/$$/cmdline > ${d}/cmdline; env > ${d}/env2`] }], STATE);
  assert.match(readFileSync(path.join(d, 'cmdline'), 'utf8'), /^my-argv0 -c /);
  const env2 = readFileSync(path.join(d, 'env2'), 'utf8').trim().split('\n').filter((l) => l && !l.startsWith('PWD='));
  assert.deepEqual(env2, [], 'no env given: empty environment');

  // a hook that ignores its stdin is fine
  await runHooks('poststop', [{ path: '/bin/true' }], { ...STATE, big: 'x'.repeat(1 << 20) });
});

test('a hook past its timeout is SIGKILLed with its children, and the error says so', async () => {
  const d = dir();
  const pids = path.join(d, 'pids');
  const t0 = Date.now();
  const err = await runHooks('createRuntime', [sh(`echo $$ > ${pids}; sleep 30 & echo $! >> ${pids}; wait`, { timeout: 1 })], STATE).then(() => null, (e) => e);
  const took = Date.now() - t0;
  assert.ok(err instanceof HookError);
  assert.equal(err.message, 'createRuntime hook #0 (/bin/sh): timed out after 1s');
  assert.ok(took >= 900 && took < 3000, `took ${took}ms`);
  const started = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
  assert.equal(started.length, 2);
  watchedPids.push(...started);
});

test('a failing hook stops the sequence; the error has its number, path, status and stderr', async () => {
  const out = path.join(dir(), 'seq');
  const hooks = [
    sh(`echo 1 >> ${out}`),
    sh('echo "some noise"; echo "first line" >&2; echo "boom: it broke" >&2; exit 3'),
    sh(`echo 3 >> ${out}`),
  ];
  await assert.rejects(runHooks('createContainer', hooks, STATE), {
    name: 'HookError', code: 'hook_failed', message: 'createContainer hook #1 (/bin/sh): exit status 3: first line\nboom: it broke',
  });
  assert.equal(readFileSync(out, 'utf8'), '1\n');

  await assert.rejects(runHooks('poststart', [sh('exit 1')], STATE), { message: 'poststart hook #0 (/bin/sh): exit status 1' });
  await assert.rejects(runHooks('poststart', [sh('kill -9 $$')], STATE), { message: 'poststart hook #0 (/bin/sh): killed by signal SIGKILL' });
  await assert.rejects(runHooks('prestart', [{ path: '/nonexistent/hook' }], STATE), { message: 'prestart hook #0 (/nonexistent/hook): cannot run: no such file or directory' });
  await assert.rejects(runHooks('prestart', [sh('true', { timeout: 0 })], STATE), { message: 'prestart hook #0 (/bin/sh): invalid timeout 0: must be greater than zero' });
});

test('best effort runs every hook and returns the failures as warnings', async () => {
  const out = path.join(dir(), 'seq');
  const warnings = await runHooksBestEffort('poststop', [
    sh(`echo 1 >> ${out}`),
    sh('echo nope >&2; exit 2'),
    sh(`echo 3 >> ${out}`),
    { path: '/nonexistent/hook' },
  ], STATE);
  assert.deepEqual(warnings, [
    'poststop hook #1 (/bin/sh): exit status 2: nope',
    'poststop hook #3 (/nonexistent/hook): cannot run: no such file or directory',
  ]);
  assert.equal(readFileSync(out, 'utf8'), '1\n3\n');
  assert.deepEqual(await runHooksBestEffort('poststop', undefined, STATE), []);
});

const haveTools = ['/usr/bin/nsenter', '/usr/bin/unshare', '/bin/nsenter', '/bin/unshare'].filter(existsSync).length >= 2 && process.getuid?.() === 0;

test('nsPid: a createContainer/startContainer hook runs in the namespaces of that process', { skip: haveTools ? false : 'needs root, nsenter and unshare' }, async () => {
  const d = dir();
  const target = spawn('unshare', ['--uts', 'sh', '-c', 'hostname inner; exec sleep 30'], { stdio: 'ignore' });
  children.push(target);
  const pid = target.pid!;
  watchedPids.push(pid);
  // ready once the shell has exec'd sleep (after setting the hostname)
  for (let i = 0; i < 200; i++) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep') break;
    } catch { /* starting */ }
    await sleep(10);
  }
  assert.notEqual(readlinkSync(`/proc/${pid}/ns/uts`), readlinkSync('/proc/self/ns/uts'));

  const out = path.join(d, 'seen');
  const hook = { path: '/bin/sh', args: ['ignored-argv0', '-c', `{ hostname; cat; echo; echo "$FOO"; readlink /proc/self/ns/uts; } > ${out}`], env: ['FOO=in-ns'] };
  await runHooks('startContainer', [hook], STATE, { nsPid: pid });
  const [hostname, state, foo, uts] = readFileSync(out, 'utf8').split('\n');
  assert.equal(hostname, 'inner');
  assert.notEqual(os.hostname(), 'inner');
  assert.deepEqual(JSON.parse(state), STATE);
  assert.equal(foo, 'in-ns');
  assert.equal(uts, readlinkSync(`/proc/${pid}/ns/uts`));

  // without nsPid the same hook sees the host
  await runHooks('createRuntime', [hook], STATE);
  assert.equal(readFileSync(out, 'utf8').split('\n')[0], os.hostname());

  // a failure inside is reported like any other; a timeout kills what nsenter forked too
  await assert.rejects(runHooks('createContainer', [sh('echo inside >&2; exit 4')], STATE, { nsPid: pid }), { message: 'createContainer hook #0 (/bin/sh): exit status 4: inside' });
  const pids = path.join(d, 'pids');
  await assert.rejects(runHooks('createContainer', [sh(`sleep 30 & echo $! > ${pids}; wait`, { timeout: 1 })], STATE, { nsPid: pid }),
    { message: 'createContainer hook #0 (/bin/sh): timed out after 1s' });
  // $! is the pid in the target's namespace, which is ours here (only uts differs)
  watchedPids.push(Number(readFileSync(pids, 'utf8').trim()));

  target.kill('SIGKILL');
  await new Promise((r) => target.once('exit', r));
  await assert.rejects(runHooks('startContainer', [hook], STATE, { nsPid: pid }), { message: `startContainer hook #0 (/bin/sh): cannot run it in the container namespaces: process ${pid} is gone` });
});
