// The native front end (native/runa.c): the commands the daemon runs give what the Node.js
// CLI gives, byte for byte and status for status; the rest go to the Node.js CLI; when no
// daemon answers, the front end starts it for the commands that need one (bin/runa-daemon.cjs,
// with its code cache) and hands the others to the Node.js CLI; a request whose daemon dies
// is not run again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, cli, runaBin, until, alive } from './helpers/runa.js';

const sb = new Sandbox('front');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

interface Out { status: number | null; stdout: string; stderr: string }
const env = { ...process.env, RUNA_DAEMON_IDLE_MS: '60000' };
function front(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Out {
  const r = spawnSync(runaBin, args, { encoding: 'utf8', cwd: opts.cwd, env: opts.env ?? env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function node(args: string[], opts: { cwd?: string } = {}): Out {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: opts.cwd, env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** The front end's answer does not need Node.js: with no PATH to find it, only the daemon can answer. */
const noNode = { ...env, PATH: '/nonexistent' };

test('the daemon runs the commands that only talk to it, with the Node.js CLI\'s output and status', async () => {
  const r = ['--root', sb.root];
  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '100']), 'fe1'])).code, 0);
  assert.equal((await sb.run(['create', '-b', await sb.bundle(['true']), 'fe2'])).code, 0);
  const same = (args: string[], what: string) => {
    const a = front([...r, ...args], { env: noNode });
    const b = node([...r, ...args]);
    assert.deepEqual(a, b, `${what}: front end ${JSON.stringify(a)} vs Node.js CLI ${JSON.stringify(b)}`);
    return a;
  };
  // Read-only commands, their errors and usage errors.
  assert.match(same(['state', 'fe1'], 'state').stdout, /"status": "running"/);
  same(['list'], 'list');
  same(['list', '--format', 'json'], 'list json');
  assert.equal(same(['list', '-q'], 'list -q').stdout, 'fe1\nfe2\n');
  same(['ps', '--format', 'json', 'fe1'], 'ps json');
  same(['ps', 'fe2'], 'ps of a created container');
  same(['features'], 'features');
  same(['--version'], 'version');
  same(['help'], 'help');
  same(['--help'], 'help flag');
  same(['state', '--help'], 'a command\'s help');
  for (const [args, msg] of [
    [['state', 'nope'], /container does not exist/],
    [['state', '--bogus', 'x'], /flag provided but not defined: -bogus/],
    [['state'], /"state" requires exactly 1 argument\(s\)/],
    [['kill', 'fe1', 'SIGNOPE'], /signal/],
    [['pause', 'nope'], /container does not exist/],
    [['resume', 'fe1'], /fe1/],
    [['delete', 'fe1'], /fe1/],
  ] as const) {
    const a = same([...args], args.join(' '));
    assert.equal(a.status, 1, args.join(' '));
    assert.match(a.stderr, msg);
  }
  const unknown = same(['frobnicate'], 'an unknown command');
  assert.equal(unknown.status, 3);
  assert.match(unknown.stderr, /No help topic for 'frobnicate'/);
  // `do` in the daemon: the container gets the caller's environment and directory.
  const d = front([...r, 'do', '--', '/bin/sh', '-c', 'echo "$MARKER"; pwd; exit 7'], { env: { ...noNode, MARKER: 'from-the-caller' }, cwd: '/usr' });
  assert.deepEqual(d, { status: 7, stdout: 'from-the-caller\n/usr\n', stderr: '' });
  // Changes, through the front end alone (the Node.js CLI could not be found).
  assert.equal(front([...r, 'start', 'fe2'], { env: noNode }).status, 0);
  assert.deepEqual(front([...r, 'wait', 'fe2'], { env: noNode }), { status: 0, stdout: '{"id":"fe2","exitStatus":0}\n', stderr: '' });
  assert.equal(front([...r, 'pause', 'fe1'], { env: noNode }).status, 0);
  assert.match(front([...r, 'state', 'fe1'], { env: noNode }).stdout, /"status": "paused"/);
  assert.equal(front([...r, 'resume', 'fe1'], { env: noNode }).status, 0);
  assert.equal(front([...r, 'kill', 'fe1', 'KILL'], { env: noNode }).status, 0);
  await until(() => /"status": "stopped"/.test(front([...r, 'state', 'fe1'], { env: noNode }).stdout), 'fe1 stopped');
  assert.match(front([...r, 'debug', 'fe1'], { env: noNode }).stdout, /container fe1: stopped/);
  assert.deepEqual(front([...r, 'delete', 'fe1', 'fe2'], { env: noNode }), { status: 0, stdout: '', stderr: '' });
  assert.deepEqual(front([...r, 'delete', '-f', 'gone'], { env: noNode }), { status: 0, stdout: '', stderr: '' });
});

test('paths are the caller\'s: a relative --root and --log start from its directory; --debug lines come back', async () => {
  const parent = path.dirname(sb.root);
  const rel = path.basename(sb.root);
  const a = front(['--root', rel, '--log', 'fe.log', '--log-format', 'json', 'state', 'nope'], { cwd: parent, env: noNode });
  assert.equal(a.status, 1);
  assert.match(a.stderr, /container does not exist/);
  const log = fs.readFileSync(path.join(parent, 'fe.log'), 'utf8');
  assert.match(log, /"level":"error".*"msg":"container does not exist"/);
  fs.rmSync(path.join(parent, 'fe.log'));
  const d = front(['--root', sb.root, '--debug', 'list', '-q'], { env: noNode });
  assert.equal(d.status, 0);
  // A caller whose directory is gone (containerd's shim, once its pod's first bundle is deleted):
  // absolute paths work; a relative one fails as the Node.js CLI fails.
  const gone = path.join(sb.dir, 'gone');
  fs.mkdirSync(gone);
  const inGone = (args: string[], e: NodeJS.ProcessEnv) => spawnSync('/bin/sh', ['-c', `/bin/mkdir -p ${gone} && cd ${gone} && /bin/rmdir ${gone} && exec "$@"`, 'sh', runaBin, ...args], { encoding: 'utf8', env: e });
  const g = inGone(['--root', sb.root, 'list', '-q'], noNode);
  assert.equal(g.status, 0, g.stderr);
  const gr = inGone(['--root', 'relative', 'list'], env); // (no socket to find: the Node.js CLI says it)
  assert.equal(gr.status, 1);
  assert.match(gr.stderr, /ENOENT: no such file or directory, uv_cwd/);
  // A root reached through a symlink is the same daemon's.
  const link = path.join(sb.dir, 'rootlink');
  fs.symlinkSync(sb.root, link);
  assert.equal(front(['--root', link, 'list', '-q'], { env: noNode }).status, 0);
});

test('everything else, and with no daemon the commands that need none, go to the Node.js CLI', async () => {
  // An environment that is not UTF-8 cannot go in a text frame: the Node.js CLI takes it.
  const envBad = spawnSync('/usr/bin/env', [Buffer.from([0x58, 0x3d, 0xff]) as unknown as string, runaBin, '--root', sb.root, 'list', '-q'], { encoding: 'utf8', env });
  assert.equal(envBad.status, 0, envBad.stderr);
  // spec writes where the caller stands: not in the daemon.
  const dir = path.join(sb.dir, 'fe-spec');
  fs.mkdirSync(dir);
  const s = front(['--root', sb.root, 'spec'], { cwd: dir });
  assert.equal(s.status, 0, s.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'config.json')));
  assert.notEqual(front(['--root', sb.root, 'spec', '--bundle', dir], { env: noNode }).status, 0, 'not in the daemon: without Node.js it cannot run');
  // No daemon for this root: the Node.js CLI answers (state reads the state dir).
  const other = path.join(sb.dir, 'empty-root');
  assert.deepEqual(front(['--root', other, 'list', '-q']), { status: 0, stdout: '', stderr: '' });
  assert.equal(fs.existsSync(path.join(other, 'runa.sock')), false, 'list started no daemon');
  // An argument that is not UTF-8 cannot go in a text frame: the Node.js CLI takes it.
  const bad = spawnSync(runaBin, ['--root', sb.root, 'state', Buffer.from([0x66, 0xff]) as unknown as string], { encoding: 'utf8', env });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /container does not exist|invalid container id/);
});

test('with no daemon, the front end starts it for a command that needs one: no Node.js CLI, no CA certificates, a code cache for the next', async () => {
  const root = path.join(sb.dir, 'cold-root');
  // A `node` that says how it was started.
  const wrap = path.join(sb.dir, 'node-wrap');
  const log = path.join(sb.dir, 'node-starts');
  fs.mkdirSync(wrap);
  fs.writeFileSync(path.join(wrap, 'node'), `#!/bin/sh\necho "$*" >> ${log}\nexec ${process.execPath} "$@"\n`, { mode: 0o755 });
  const coldEnv = { ...env, PATH: `${wrap}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: path.join(sb.dir, 'no-such-ca.pem') };
  const starts = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
  const stopDaemon = async () => {
    const pid = Number(fs.readFileSync(path.join(root, 'daemon.pid'), 'utf8'));
    process.kill(pid, 'SIGTERM');
    await until(() => !alive(pid), 'the daemon gone');
  };
  try {
    const bundle = await sb.bundle(['true']);
    assert.deepEqual(front(['--root', root, 'run', '-b', bundle, 'cold1'], { env: coldEnv }), { status: 0, stdout: '', stderr: '' });
    assert.deepEqual(starts(), [`${path.resolve('bin/runa-daemon.cjs')} --root ${root} daemon`], 'only the daemon was started, by the front end');
    const pid = Number(fs.readFileSync(path.join(root, 'daemon.pid'), 'utf8'));
    assert.doesNotMatch(fs.readFileSync(`/proc/${pid}/environ`, 'latin1'), /NODE_EXTRA_CA_CERTS/, 'the daemon reads no CA certificates');
    assert.doesNotMatch(fs.readFileSync(path.join(root, 'daemon.log'), 'utf8'), /extra certs/);
    // The Node.js CLI does not read them either (it would warn about the missing file).
    assert.deepEqual(front(['--root', root, 'spec', '--bundle', path.join(sb.dir, 'nowhere')], { env: coldEnv }).stderr.includes('extra certs'), false);
    // Once idle, the daemon leaves what it compiled for the next one.
    const cached = () => fs.readdirSync(root).filter((n) => /^daemon-.*\.cache$/.test(n));
    await until(() => cached().length === 1, 'the code cache written');
    const file = path.join(root, cached()[0]);
    assert.ok(fs.statSync(file).size > 100_000);
    // A cache V8 rejects (here, garbage) costs only the compile, and is replaced.
    await stopDaemon();
    fs.writeFileSync(file, Buffer.alloc(200_000, 7));
    assert.deepEqual(front(['--root', root, 'run', '-b', bundle, 'cold2'], { env: coldEnv }), { status: 0, stdout: '', stderr: '' });
    await until(() => fs.existsSync(file) && !fs.readFileSync(file).equals(Buffer.alloc(200_000, 7)), 'the cache replaced');
    // list needs no daemon: the Node.js CLI answers, and starts none.
    await stopDaemon();
    fs.writeFileSync(log, '');
    assert.deepEqual(front(['--root', root, 'list', '-q'], { env: coldEnv }), { status: 0, stdout: '', stderr: '' });
    assert.match(starts().join('\n'), /bin\/runa\.js --root .* list -q$/);
    assert.equal(fs.existsSync(path.join(root, 'daemon.pid')), false, 'list started no daemon');
  } finally {
    const pidFile = path.join(root, 'daemon.pid');
    if (fs.existsSync(pidFile)) await stopDaemon().catch(() => {});
  }
});

test('with no daemon and no Node.js to start one, the front end does not wait for it: the Node.js CLI\'s own failure comes at once', async () => {
  const root = path.join(sb.dir, 'no-node-root');
  // Not the 10 s a daemon that was started gets to listen: the daemon could not be executed.
  const r = spawnSync(runaBin, ['--root', root, 'kill', 'x', 'KILL'], { encoding: 'utf8', env: noNode, timeout: 5_000 });
  assert.notEqual(r.status, null, 'it did not wait out the daemon\'s 10 s');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /node/);
});

test('a command whose daemon dies before answering fails as the Node.js CLI does, and is not run again', async () => {
  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '100']), 'fe3'])).code, 0);
  const waiter = spawn(runaBin, ['--root', sb.root, 'wait', 'fe3'], { env: noNode, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  waiter.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => waiter.once('exit', (c) => r(c)));
  const dpid = sb.daemonPid()!;
  await until(async () => {
    const t = spawnSync(runaBin, ['--root', sb.root, 'debug', '--stacks', 'fe3'], { encoding: 'utf8', env }).stdout;
    return /request {3}container\.wait/.test(t);
  }, 'the wait in flight in the daemon');
  process.kill(dpid, 'SIGKILL');
  assert.equal(await exited, 1);
  assert.equal(err, 'connection to runa daemon closed\n');
  await until(() => !alive(dpid), 'the daemon gone');
  // The next command brings a daemon back, which finds fe3 still running.
  const st = await sb.run(['state', 'fe3']);
  assert.match(st.stdout, /"status": "running"/);
  assert.equal((await sb.run(['delete', '-f', 'fe3'])).code, 0);
});
