// OCI hooks through the whole runtime: order, namespaces, the state each receives, and
// the failure rules of docs/LIFECYCLE.md.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until } from './helpers/runa.js';

const sb = new Sandbox('hooks');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

// Hooks in the container's mount namespace see its files (startContainer runs after
// pivot_root), so the hook is an inline script and the log a directory bind-mounted at
// /hooklog; before pivot_root and in the runtime's namespaces it is at its host path.
const logDir = path.join(sb.dir, 'hooklog');
fs.mkdirSync(logDir);
const log = path.join(logDir, 'hooks.log');
const SCRIPT = `state=$(cat); if [ -d /hooklog ]; then L=/hooklog/hooks.log; else L=${log}; fi
echo "$1 net=$(readlink /proc/self/ns/net) mnt=$(readlink /proc/self/ns/mnt) state=$state" >> $L; exit \${2:-0}`;
const hook = (kind: string, code = 0) => ({ path: '/bin/sh', args: ['sh', '-c', SCRIPT, 'hook', kind, String(code)] });
const withLog = (s: any) => s.mounts.push({ destination: '/hooklog', type: 'bind', source: logDir, options: ['rbind', 'rw'] });
const entries = () => fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => {
  const [kind, net, mnt] = l.split(' ');
  return { kind, net: net.slice(4), mnt: mnt.slice(4), state: JSON.parse(l.slice(l.indexOf('state=') + 6)) };
});
const hostNet = fs.readlinkSync('/proc/self/ns/net');
const hostMnt = fs.readlinkSync('/proc/self/ns/mnt');

test('every hook kind runs in OCI order, in the right namespaces, with the state on stdin', async () => {
  fs.rmSync(log, { force: true });
  const bundle = await sb.bundle(['true'], (s) => {
    withLog(s);
    s.hooks = {
      prestart: [hook('prestart')],
      createRuntime: [hook('createRuntime1'), hook('createRuntime2')],
      createContainer: [hook('createContainer')],
      startContainer: [hook('startContainer')],
      poststart: [hook('poststart')],
      poststop: [hook('poststop')],
    };
  });
  assert.equal((await sb.run(['create', '-b', bundle, 'h1'])).code, 0);
  const monitor = JSON.parse((await sb.run(['state', 'h1'])).stdout).pid;
  const containerNet = fs.readlinkSync(`/proc/${monitor}/ns/net`);
  assert.deepEqual(entries().map((e) => e.kind), ['prestart', 'createRuntime1', 'createRuntime2', 'createContainer']);
  assert.equal((await sb.run(['start', 'h1'])).code, 0);
  await until(async () => JSON.parse((await sb.run(['state', 'h1'])).stdout).status === 'stopped', 'stopped');
  assert.equal((await sb.run(['delete', 'h1'])).code, 0);
  const all = entries();
  assert.deepEqual(all.map((e) => e.kind), ['prestart', 'createRuntime1', 'createRuntime2', 'createContainer', 'startContainer', 'poststart', 'poststop']);
  const by = Object.fromEntries(all.map((e) => [e.kind, e]));
  for (const k of ['prestart', 'createRuntime1', 'poststart', 'poststop']) {
    assert.equal(by[k].net, hostNet, `${k} runs in the runtime's namespaces`);
    assert.equal(by[k].mnt, hostMnt, `${k} runs in the runtime's mount namespace`);
  }
  for (const k of ['createContainer', 'startContainer']) {
    assert.equal(by[k].net, containerNet, `${k} runs in the container's network namespace`);
    assert.notEqual(by[k].mnt, hostMnt, `${k} runs in the container's mount namespace`);
  }
  assert.equal(by.createRuntime1.state.id, 'h1');
  assert.equal(by.createRuntime1.state.status, 'creating');
  assert.equal(by.createRuntime1.state.pid, monitor);
  assert.equal(by.createRuntime1.state.bundle, bundle);
  assert.equal(by.startContainer.state.status, 'created');
  assert.equal(by.poststart.state.status, 'running');
  assert.equal(by.poststop.state.status, 'stopped');
});

test('a failing createRuntime hook fails create and rolls everything back', async () => {
  fs.rmSync(log, { force: true });
  const bundle = await sb.bundle(['true'], (s) => { s.hooks = { createRuntime: [hook('createRuntime', 3)], poststop: [hook('poststop')] }; });
  const r = await sb.run(['create', '-b', bundle, 'h2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /hook createRuntime: createRuntime hook #0 \(\/bin\/sh\): exit status 3/);
  assert.equal(fs.existsSync(path.join(sb.root, 'h2')), false);
  assert.deepEqual(sb.leftovers().filter((l) => l.includes('nsinit')), []);
  assert.equal(fs.existsSync('/sys/fs/cgroup/memory/runa/h2'), false, 'no cgroup left');
});

test('a failing startContainer hook fails start and stops the container', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.hooks = { startContainer: [hook('startContainer', 1)] }; });
  assert.equal((await sb.run(['create', '-b', bundle, 'h3'])).code, 0);
  const r = await sb.run(['start', 'h3']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /startContainer hook #0 .*exit status 1/);
  await until(async () => JSON.parse((await sb.run(['state', 'h3'])).stdout).status === 'stopped', 'stopped');
  assert.equal((await sb.run(['delete', 'h3'])).code, 0);
});

test('a failing poststart hook kills the container and fails start', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.hooks = { poststart: [hook('poststart', 2)] }; });
  assert.equal((await sb.run(['create', '-b', bundle, 'h4'])).code, 0);
  const r = await sb.run(['start', 'h4']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /poststart hook #0 .*exit status 2/);
  await until(async () => JSON.parse((await sb.run(['state', 'h4'])).stdout).status === 'stopped', 'stopped');
  assert.equal((await sb.run(['delete', 'h4'])).code, 0);
});

test('a failing poststop hook is a warning; delete succeeds', async () => {
  const bundle = await sb.bundle(['true'], (s) => { s.hooks = { poststop: [hook('poststop', 4)] }; });
  assert.equal((await sb.run(['run', '--keep', '-b', bundle, 'h5'])).code, 0);
  const r = await sb.run(['delete', 'h5']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: poststop hook #0 .*exit status 4/);
  assert.match((await sb.run(['state', 'h5'])).stderr, /container does not exist/);
});

test('a hook that outlives its timeout is killed and fails the operation', async () => {
  const bundle = await sb.bundle(['true'], (s) => { s.hooks = { createRuntime: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] }; });
  const r = await sb.run(['create', '-b', bundle, 'h6']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /timed out after 1s/);
  assert.equal(fs.existsSync(path.join(sb.root, 'h6')), false);
});
