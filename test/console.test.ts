// process.terminal: runc's --console-socket protocol with a real receiver, and a relayed
// terminal for a foreground run, tested under a real pty.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, cli, until } from './helpers/runa.js';

const sb = new Sandbox('console');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

// A console-socket receiver: accepts one connection, receives the pty name and master fd
// (SCM_RIGHTS), reads what the container writes, and reports both as JSON.
const RECEIVER = `
import socket, sys, os, json, select
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path); srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
msg, fds, flags, addr = socket.recv_fds(conn, 4096, 1)
master = fds[0]
out = b""
while True:
    r, _, _ = select.select([master], [], [], 10)
    if not r: break
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk: break
    out += chunk
print(json.dumps({"name": msg.decode(), "isatty": os.isatty(master), "output": out.decode(errors="replace")}), flush=True)
`;

function python(): boolean {
  return spawnSync('python3', ['-c', 'import socket; socket.recv_fds'], { stdio: 'ignore' }).status === 0;
}

test('--console-socket receives the pty master over SCM_RIGHTS, and the container has a terminal', { skip: !python() && 'python3 is needed for the receiver' }, async () => {
  const sockPath = path.join(sb.dir, 'console.sock');
  const script = path.join(sb.dir, 'receiver.py');
  fs.writeFileSync(script, RECEIVER);
  const receiver = spawn('python3', [script, sockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((res) => receiver.on('exit', res));
  let out = '';
  receiver.stdout.on('data', (d) => (out += d));
  await until(() => out.includes('ready'), 'receiver ready');
  const bundle = await sb.bundle(['sh', '-c', 'readlink /proc/self/fd/0; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty'], (s) => { s.process.terminal = true; });
  const r = await sb.run(['create', '-b', bundle, '--console-socket', sockPath, 'tty1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await sb.run(['start', 'tty1'])).code, 0);
  await exited;
  const got = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!);
  assert.match(got.name, /^\/dev\/pts\/\d+$/);
  assert.equal(got.isatty, true);
  assert.match(got.output, /\/dev\/pts\/0/);
  assert.match(got.output, /stdio-is-tty/);
  assert.equal((await sb.run(['delete', '-f', 'tty1'])).code, 0);
});

test('terminal without a console socket: create refuses (it would detach), run relays the caller\'s terminal', { skip: !python() && 'python3 is needed for a pty' }, async () => {
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
  const r = spawnSync('python3', ['-c', driver, process.execPath, cli, '--root', sb.root, 'run', '-b', bundle, 'tty2'], { encoding: 'utf8', timeout: 30_000 });
  assert.match(r.stdout, /\/dev\/pts\/0/);
  assert.match(r.stdout, /got:hello/);
  assert.match(r.stdout, /exit 3/);
});
