// process.terminal: runc's --console-socket protocol with a real receiver, and a relayed
// terminal for a foreground run, tested under a real pty.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, runaBin } from './helpers/runa.js';
import { consoleReceiver, havePython } from './helpers/console.js';

const sb = new Sandbox('console');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

test('--console-socket receives the pty master over SCM_RIGHTS, and the container has a terminal', { skip: !havePython() && 'python3 is needed for the receiver' }, async () => {
  const { socket, received } = await consoleReceiver(sb.dir, 'console.sock');
  const bundle = await sb.bundle(['sh', '-c', 'readlink /proc/self/fd/0; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty'], (s) => { s.process.terminal = true; });
  const r = await sb.run(['create', '-b', bundle, '--console-socket', socket, 'tty1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await sb.run(['start', 'tty1'])).code, 0);
  const got = await received;
  assert.match(got.name, /^\/dev\/pts\/\d+$/);
  assert.equal(got.isatty, true);
  assert.match(got.output, /\/dev\/pts\/0/);
  assert.match(got.output, /stdio-is-tty/);
  assert.equal((await sb.run(['delete', '-f', 'tty1'])).code, 0);
});

test('the console pty belongs to the process\'s user (runc chowns stdio before the user change)', { skip: !havePython() && 'python3 is needed for the receiver' }, async () => {
  const { socket, received } = await consoleReceiver(sb.dir, 'owner.sock');
  const bundle = await sb.bundle(['sh', '-c', 'stat -L -c owner=%u /proc/self/fd/0'], (s) => { s.process.terminal = true; s.process.user = { uid: 1000, gid: 1000 }; });
  const r = await sb.run(['run', '-d', '--console-socket', socket, '-b', bundle, 'owner']);
  assert.equal(r.code, 0, r.stderr);
  assert.match((await received).output, /owner=1000/);
  assert.equal((await sb.run(['delete', '-f', 'owner'])).code, 0);
});

test('terminal without a console socket: create refuses (it would detach), run relays the caller\'s terminal', { skip: !havePython() && 'python3 is needed for a pty' }, async () => {
  const bundle = await sb.bundle(['sh', '-c', 'readlink /proc/self/fd/0; read line; echo got:$line; exit 3'], (s) => { s.process.terminal = true; });
  const c = await sb.run(['create', '-b', bundle, 'tty2']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /cannot allocate tty if runa will detach without setting console socket/);
  // Run under a real pty (python's pty.spawn), type a line, read the relay.
  const driver = `
import pty, os, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf = b""
sent = False
while True:
    r, _, _ = select.select([fd], [], [], 20)
    if not r: break
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk: break
    buf += chunk
    if not sent and b"/dev/pts/" in buf:
        os.write(fd, b"hello\\r"); sent = True
_, status = os.waitpid(pid, 0)
print(repr(buf.decode(errors="replace")))
print("exit", os.waitstatus_to_exitcode(status))
`;
  const r = spawnSync('python3', ['-c', driver, runaBin, '--root', sb.root, 'run', '-b', bundle, 'tty2'], { encoding: 'utf8', timeout: 30_000 });
  assert.match(r.stdout, /\/dev\/pts\/0/);
  assert.match(r.stdout, /got:hello/);
  assert.match(r.stdout, /exit 3/);
});

test('exec --tty --console-socket gives the exec\'d process a terminal', { skip: !havePython() && 'python3 is needed for the receiver' }, async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'tty3'])).code, 0);
  const { socket, received } = await consoleReceiver(sb.dir, 'exec-console.sock');
  const r = await sb.run(['exec', '-t', '-d', '--console-socket', socket, 'tty3', 'sh', '-c', 'readlink /proc/self/fd/1; [ -t 1 ] && echo exec-tty']);
  assert.equal(r.code, 0, r.stderr);
  const got = await received;
  assert.match(got.output, /\/dev\/pts\/\d+/);
  assert.match(got.output, /exec-tty/);
  const bad = await sb.run(['exec', '-t', '-d', 'tty3', 'true']);
  assert.match(bad.stderr, /cannot allocate tty if runa will detach without setting console socket/);
  assert.equal((await sb.run(['delete', '-f', 'tty3'])).code, 0);
});

test('with a console socket the runtime\'s own stdout and stderr reach EOF when run -d, create and exec -d return', { skip: !havePython() && 'python3 is needed for the receiver' }, async () => {
  const { spawn } = await import('node:child_process');
  /** Run the CLI with piped stdout/stderr: 'close' comes once it exited and both pipes reached EOF. */
  const toEof = (args: string[]) => new Promise<{ code: number | null }>((resolve, reject) => {
    const child = spawn(runaBin, ['--root', sb.root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: stdout/stderr still open after 15 s`)), 15_000);
    child.stdout.resume();
    child.stderr.resume();
    child.on('close', (code) => { clearTimeout(timer); resolve({ code }); });
  });
  const r1 = await consoleReceiver(sb.dir, 'eof1.sock');
  const b1 = await sb.bundle(['sleep', '1000'], (s) => { s.process.terminal = true; });
  assert.equal((await toEof(['run', '-d', '--console-socket', r1.socket, '-b', b1, 'eof1'])).code, 0);
  const r2 = await consoleReceiver(sb.dir, 'eof2.sock');
  assert.equal((await toEof(['create', '--console-socket', r2.socket, '-b', b1, 'eof2'])).code, 0);
  const r3 = await consoleReceiver(sb.dir, 'eof3.sock');
  assert.equal((await toEof(['exec', '-t', '-d', '--console-socket', r3.socket, 'eof1', 'sleep', '1000'])).code, 0);
  for (const id of ['eof1', 'eof2']) assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  await Promise.all([r1.received, r2.received, r3.received]);
});

test('process.consoleSize is the new pty\'s size, for the init and for exec -p (runc)', { skip: (!havePython() && 'python3 is needed for the receiver') || (!fs.existsSync('/bin/busybox') && 'needs busybox-static') }, async () => {
  const busybox = path.join(await sb.rootfs(), 'bin', 'busybox');
  if (!fs.existsSync(busybox)) fs.copyFileSync('/bin/busybox', busybox);
  const { socket, received } = await consoleReceiver(sb.dir, 'size.sock');
  const bundle = await sb.bundle(['sh', '-c', 'busybox stty size; sleep 1000'], (s) => { s.process.terminal = true; s.process.consoleSize = { height: 37, width: 123 }; });
  const r = await sb.run(['run', '-d', '--console-socket', socket, '-b', bundle, 'sized']);
  assert.equal(r.code, 0, r.stderr);
  try {
    // The receiver reads to EOF: the init's output comes once the delete below ends it.
    const got = received.then((g) => g.output);
    const proc = { ...JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')).process, args: ['busybox', 'stty', 'size'], consoleSize: { height: 12, width: 34 } };
    const file = path.join(sb.dir, 'sized-process.json');
    fs.writeFileSync(file, JSON.stringify(proc));
    const { socket: s2, received: r2 } = await consoleReceiver(sb.dir, 'size2.sock');
    const e = await sb.run(['exec', '-d', '-p', file, '--console-socket', s2, 'sized']);
    assert.equal(e.code, 0, e.stderr);
    assert.match((await r2).output, /^12 34\r?$/m);
    assert.equal((await sb.run(['delete', '-f', 'sized'])).code, 0);
    assert.match(await got, /^37 123\r?$/m);
  } finally {
    await sb.run(['delete', '-f', 'sized']);
  }
});

test('--pidfd-socket receives a pidfd of the init (create, run) and of an exec\'d process (runc 1.2)', { skip: !havePython() && 'python3 is needed for the receiver' }, async () => {
  const receiver = async (name: string) => {
    const socket = path.join(sb.dir, name);
    const script = path.join(sb.dir, `${name}.py`);
    // Receives one fd and says what it is: a pidfd's fdinfo names its process.
    fs.writeFileSync(script, `
import socket, sys, os
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1]); srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
msg, fds, flags, addr = socket.recv_fds(conn, 4096, 1)
info = open("/proc/self/fdinfo/%d" % fds[0]).read()
pid = [l.split()[1] for l in info.splitlines() if l.startswith("Pid:")]
print("%s %s %s" % (msg.decode(), os.readlink("/proc/self/fd/%d" % fds[0]), pid[0] if pid else "none"), flush=True)
`);
    const { spawn } = await import('node:child_process');
    const child = spawn('python3', [script, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const done = new Promise<string>((res) => child.on('exit', () => res(out.split('\n')[1] ?? '')));
    const { until } = await import('./helpers/runa.js');
    await until(() => out.includes('ready'), 'pidfd receiver ready');
    return { socket, done };
  };
  const bundle = await sb.bundle(['sleep', '1000']);
  const a = await receiver('pidfd-create.sock');
  assert.equal((await sb.run(['create', '--pidfd-socket', a.socket, '-b', bundle, 'pfd'])).code, 0);
  try {
    const init = JSON.parse((await sb.run(['state', 'pfd'])).stdout).pid;
    assert.equal(await a.done, `pidfd anon_inode:[pidfd] ${init}`);
    const b = await receiver('pidfd-exec.sock');
    const e = await sb.run(['exec', '-d', '--pid-file', path.join(sb.dir, 'pfd-exec.pid'), '--pidfd-socket', b.socket, 'pfd', 'sleep', '999']);
    assert.equal(e.code, 0, e.stderr);
    const execPid = fs.readFileSync(path.join(sb.dir, 'pfd-exec.pid'), 'utf8').trim();
    assert.equal(await b.done, `pidfd anon_inode:[pidfd] ${execPid}`);
    const missing = await sb.run(['exec', '--pidfd-socket', path.join(sb.dir, 'nobody-listens.sock'), 'pfd', 'true']);
    assert.equal(missing.code, 255);
    assert.match(missing.stderr, /pidfd-socket ".*nobody-listens\.sock": No such file or directory/);
  } finally {
    assert.equal((await sb.run(['delete', '-f', 'pfd'])).code, 0);
  }
});
