// The nsinit ops for the rest of config.json, exec and consoles, each observed from inside
// the container (/proc/self/status, /proc/self/limits, /proc/self/mountinfo, a tty...).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { CAP, capMask, MS, RLIMIT, type PlanOp } from '../src/nsinit/plan.js';
import { containerPlan as plan, type ContainerOpts, NSINIT, useNsinit } from './helpers/nsinit.js';

const h = useNsinit({
  prefix: 'runa-nsinit-ops-',
  binaries: ['stty'],
  prepare: async (rootfs) => {
    await fs.writeFile(path.join(rootfs, 'etc', 'secret'), 'top secret\n');
    await fs.mkdir(path.join(rootfs, 'srv', 'private'), { recursive: true });
    await fs.writeFile(path.join(rootfs, 'srv', 'private', 'key'), 'key\n');
    await fs.mkdir(path.join(rootfs, 'srv', 'data'), { recursive: true });
  },
});
const { defer, tempDir, writePlan, spawnWithSync, runNsinit, start, runToExit, setupError } = h;

const containerPlan = (stateDir: string, args: string[], opts: ContainerOpts = {}): PlanOp[] =>
  plan(h.rootfs, stateDir, args, { hostname: 'runa-ops', env: ['PATH=/bin'], ...opts });

const status = (text: string, field: string): string => {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text);
  assert.ok(m, `no ${field} in ${text}`);
  return m[1].trim();
};

test('setns: an exec-style plan joins a running container (pid, uts, ipc, net, cgroup, then mnt)', { timeout: 30000 }, async () => {
  const stateA = await tempDir('state');
  const a = await runNsinit(containerPlan(stateA, ['sleep', '1000'], { hostname: 'joined' }), stateA);
  const { initPid, client: ca } = await start(a, stateA);

  const stateB = await tempDir('exec');
  const nsPath = (n: string): string => `/proc/${initPid}/ns/${n}`;
  const script = 'cat /proc/1/cmdline; echo; hostname; ls /srv; pwd; echo $$; for n in mnt pid uts ipc net; do readlink /proc/self/ns/$n; done; exit 5';
  const exec = await runToExit([
    { op: 'statedir', path: stateB },
    ...(['pid', 'uts', 'ipc', 'net', 'cgroup'] as const).map((n): PlanOp => ({ op: 'setns', path: nsPath(n), nstype: n })),
    { op: 'fork' },
    { op: 'setns', path: nsPath('mnt'), nstype: 'mnt' },
    { op: 'chdir', path: '/srv' },
    { op: 'setgroups', gids: [] }, { op: 'setgid', gid: 0 }, { op: 'setuid', uid: 0 },
    { op: 'env', entry: 'PATH=/bin' },
    { op: 'arg', value: 'sh' }, { op: 'arg', value: '-c' }, { op: 'arg', value: script },
    { op: 'pdeathsig', signal: 9 },
    { op: 'gate' },
    { op: 'exec' },
  ], stateB);
  assert.equal(exec.status, 5);
  const [cmdline, hostname, srv1, srv2, cwd, pid, ...nsLinks] = exec.stdout.trimEnd().split('\n');
  assert.equal(cmdline, 'sleep\u00001000\u0000'); // the container's init, seen through its /proc
  assert.equal(hostname, 'joined');
  assert.deepEqual([srv1, srv2], ['data', 'private']); // the container's files: root is the container's
  assert.equal(cwd, '/srv');
  assert.notEqual(Number(pid), 1);
  const want = ['mnt', 'pid', 'uts', 'ipc', 'net'].map((n) => readlinkSync(nsPath(n)));
  assert.deepEqual(nsLinks, want);

  ca.send({ type: 'monitor.signal', signal: 9 });
  assert.deepEqual(await ca.next(), { type: 'monitor.signalled', signal: 9 });
  assert.deepEqual(await ca.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
});

test('gate-signals: a pid namespace\'s init at the gate exits 128+N of a listed signal and ignores the others; refused for SIGKILL and in the monitor', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const p = containerPlan(stateDir, ['true']);
  p.splice(p.findIndex((o) => o.op === 'gate'), 0, { op: 'gate-signals', mask: 1n << 15n });
  const run = await runNsinit(p, stateDir);
  assert.match(await run.sync, /^created\t\d+\n$/);
  const c = await h.connect(path.join(stateDir, 'monitor.sock'));
  defer(() => c.close());
  assert.equal((await c.next()).type, 'monitor.hello');
  // SIGUSR1 is not listed: the init of a pid namespace ignores it (default disposition).
  c.send({ type: 'monitor.signal', signal: 10 });
  assert.deepEqual(await c.next(), { type: 'monitor.signalled', signal: 10 });
  c.send({ type: 'monitor.signal', signal: 15 });
  assert.deepEqual(await c.next(), { type: 'monitor.signalled', signal: 15 });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 143, signal: 0 });
  assert.deepEqual(await run.exited, { code: 143, signal: null });
  assert.equal(readFileSync(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":143,"signal":0}');

  const kill = containerPlan(stateDir, ['true']);
  kill.splice(kill.findIndex((o) => o.op === 'gate'), 0, { op: 'gate-signals', mask: (1n << 15n) | (1n << 9n) });
  assert.equal(await setupError(kill, stateDir), 'error\t22\tgate-signals "0x8200": signal 0, SIGKILL and SIGSTOP cannot be caught: Invalid argument\n');
  const early = containerPlan(stateDir, ['true']);
  early.splice(early.findIndex((o) => o.op === 'fork'), 0, { op: 'gate-signals', mask: 1n << 15n });
  assert.equal(await setupError(early, stateDir), 'error\t22\tgate-signals "0x8000": only in the child before the gate: Invalid argument\n');
});

test('setns: wrong namespace type, unknown type and non-namespace files are refused clearly', { timeout: 30000 }, async () => {
  const dir = await tempDir('state');
  const uts = `/proc/${process.pid}/ns/uts`;
  const plan = (p: string, nstype: string): PlanOp[] =>
    [{ op: 'statedir', path: dir }, { op: 'setns', path: p, nstype } as PlanOp, { op: 'fork' }];
  assert.equal(await setupError(plan(uts, 'net'), dir), `error\t22\tsetns "${uts}": not a net namespace: Invalid argument\n`);
  assert.equal(await setupError(plan(uts, 'bogus'), dir), `error\t22\tsetns "${uts}": unknown namespace type "bogus": Invalid argument\n`);
  assert.equal(await setupError(plan('/etc/hostname', 'uts'), dir), 'error\t22\tsetns "/etc/hostname": Invalid argument\n');
  assert.equal(await setupError(plan(`${dir}/none`, 'uts'), dir), `error\t2\tsetns "${dir}/none": No such file or directory\n`);
});

test('write: oom_score_adj and a namespaced sysctl; symlinks are not followed', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const r = await runToExit(containerPlan(stateDir, ['cat', '/proc/self/oom_score_adj', '/proc/sys/kernel/domainname'], {
    afterPivot: [
      { op: 'write', path: '/proc/self/oom_score_adj', value: '789' },
      { op: 'write', path: '/proc/sys/kernel/domainname', value: 'runa.test' },
    ],
  }), stateDir);
  assert.deepEqual(r, { status: 0, stdout: '789\nruna.test\n', stderr: '' });
  assert.notEqual(readFileSync('/proc/sys/kernel/domainname', 'utf8'), 'runa.test\n'); // the uts namespace's own

  const failing = containerPlan(stateDir, ['true'], { afterPivot: [{ op: 'write', path: '/dev/stdin', value: 'x' }] });
  assert.equal(await setupError(failing, stateDir), 'error\t40\twrite "x" to "/dev/stdin": Too many levels of symbolic links\n');
});

test('capabilities: a non-root uid keeping only CAP_NET_BIND_SERVICE in every set', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const bind = capMask([CAP.NET_BIND_SERVICE]);
  const identity = (ambient: bigint): PlanOp[] => [
    { op: 'capbset', mask: bind },
    { op: 'keepcaps' },
    { op: 'setgroups', gids: [1001] },
    { op: 'setgid', gid: 1000 },
    { op: 'setuid', uid: 1000 },
    { op: 'capset', effective: bind, permitted: bind, inheritable: bind },
    { op: 'ambient', mask: ambient },
  ];
  const r = await runToExit(containerPlan(stateDir, ['cat', '/proc/self/status'], { identity: identity(bind) }), stateDir);
  assert.equal(r.status, 0, r.stderr);
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
    assert.equal(status(r.stdout, set), '0000000000000400', set);
  }
  assert.equal(status(r.stdout, 'Uid'), '1000\t1000\t1000\t1000');
  assert.equal(status(r.stdout, 'Gid'), '1000\t1000\t1000\t1000');
  assert.equal(status(r.stdout, 'Groups'), '1001');
  assert.equal(status(r.stdout, 'NoNewPrivs'), '0');

  // Ambient caps must be permitted and inheritable: CAP_CHOWN is neither any more.
  const bad = containerPlan(stateDir, ['true'], { identity: identity(capMask([CAP.CHOWN])) });
  assert.equal(await setupError(bad, stateDir), 'error\t1\tambient "0x1": raise 0: Operation not permitted\n');
});

test('nonewprivs: NoNewPrivs is set for the process', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const r = await runToExit(containerPlan(stateDir, ['cat', '/proc/self/status'], { afterPivot: [{ op: 'nonewprivs' }] }), stateDir);
  assert.equal(r.status, 0);
  assert.equal(status(r.stdout, 'NoNewPrivs'), '1');
});

test('rlimit: soft and hard limits, unlimited either way, bad resources refused', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const r = await runToExit(containerPlan(stateDir, ['cat', '/proc/self/limits'], {
    afterPivot: [
      { op: 'rlimit', resource: RLIMIT.NOFILE, soft: 1000, hard: 2000 },
      { op: 'rlimit', resource: RLIMIT.CORE, soft: 'unlimited', hard: 'unlimited' },
      { op: 'rlimit', resource: RLIMIT.STACK, soft: 4194304, hard: 18446744073709551615n },
    ],
  }), stateDir);
  assert.equal(r.status, 0);
  const limit = (name: string): string[] => {
    const line = r.stdout.split('\n').find((l) => l.startsWith(name));
    assert.ok(line, `no "${name}" in ${r.stdout}`);
    return line.slice(name.length).trim().split(/\s+/).slice(0, 2);
  };
  assert.deepEqual(limit('Max open files'), ['1000', '2000']);
  assert.deepEqual(limit('Max core file size'), ['unlimited', 'unlimited']);
  assert.deepEqual(limit('Max stack size'), ['4194304', 'unlimited']);

  const bad = containerPlan(stateDir, ['true'], { afterPivot: [{ op: 'rlimit', resource: 99, soft: 1, hard: 1 }] });
  assert.equal(await setupError(bad, stateDir), 'error\t22\trlimit "99" "1" "1": Invalid argument\n');
  const garbled = containerPlan(stateDir, ['true'], { afterPivot: [{ op: 'rlimit', resource: 7, soft: 'lots' as 'unlimited', hard: 1 }] });
  assert.equal(await setupError(garbled, stateDir), 'error\t22\trlimit "lots": not a number: Invalid argument\n');
});

test('mask and readonly: masked file and directory, read-only paths keep their other flags', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const script = [
    'echo "secret=[$(cat /etc/secret)] private=[$(ls -A /srv/private)]"',
    'touch /srv/private/x 2>/dev/null || echo private-ro',
    'touch /srv/data/x 2>/dev/null || echo data-ro',
    'echo x 2>/dev/null >/proc/sys/kernel/domainname || echo sysctl-ro',
    'touch /tmp/x && echo tmp-rw',
    'cat /proc/self/mountinfo',
  ].join('; ');
  const r = await runToExit(containerPlan(stateDir, ['sh', '-c', script], {
    afterPivot: [
      { op: 'mask', path: '/etc/secret' },
      { op: 'mask', path: '/srv/private' },
      { op: 'mask', path: '/no/such/path' },
      { op: 'readonly', path: '/srv/data' },
      { op: 'readonly', path: '/proc/sys' },
      { op: 'readonly', path: '/dev' },
      { op: 'readonly', path: '/no/such/path' },
    ],
  }), stateDir);
  assert.equal(r.status, 0, r.stderr);
  const [first, ...rest] = r.stdout.split('\n');
  assert.equal(first, 'secret=[] private=[]');
  assert.deepEqual(rest.slice(0, 4), ['private-ro', 'data-ro', 'sysctl-ro', 'tmp-rw']);
  // mountinfo: "id parent maj:min root mountpoint options ... - fstype source superoptions"
  const mounts = new Map<string, { options: string; fstype: string }>();
  for (const line of rest.slice(4)) {
    const f = line.split(' ');
    if (f.length < 10) continue;
    mounts.set(f[4], { options: f[5], fstype: f[f.indexOf('-') + 1] });
  }
  assert.equal(mounts.get('/etc/secret')?.fstype, 'tmpfs'); // /dev/null from the container's /dev
  assert.deepEqual(mounts.get('/srv/private'), { options: 'ro,relatime', fstype: 'tmpfs' });
  assert.equal(mounts.get('/srv/data')?.options.split(',')[0], 'ro');
  assert.deepEqual(mounts.get('/proc/sys'), { options: 'ro,nosuid,nodev,noexec,relatime', fstype: 'proc' });
  assert.deepEqual(mounts.get('/dev'), { options: 'ro,nosuid', fstype: 'tmpfs' }); // still strictatime
  assert.ok(!mounts.has('/no/such/path'));
});

test('setsid: the process leads its own session and process group', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  // /proc/PID/stat: pid (comm) state ppid pgrp session ...; ids outside the pid namespace read 0.
  const ids = async (extra: PlanOp[]): Promise<string[]> => {
    const r = await runToExit(containerPlan(stateDir, ['sh', '-c', 'cat /proc/$$/stat'], { afterPivot: extra }), stateDir);
    return r.stdout.slice(r.stdout.lastIndexOf(')') + 2).split(' ').slice(2, 4);
  };
  assert.deepEqual(await ids([{ op: 'setsid' }]), ['1', '1']);
  assert.deepEqual(await ids([]), ['0', '0']);
});

// ---- consoles ----

const RECEIVER = String.raw`
import json, os, socket, sys
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])  # relative to the cwd: sun_path is short
srv.listen(1)
print("listening", flush=True)
conn, _ = srv.accept()
msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
master, out, sent = fds[0], b"", False
while True:
    try:
        data = os.read(master, 4096)
    except OSError:  # EIO: nobody has the slave open any more
        break
    if not data:
        break
    out += data
    if not sent and b"ready" in out:
        os.write(master, b"hello\n")
        sent = True
print(json.dumps({"name": msg.decode(), "fds": len(fds), "output": out.decode()}), flush=True)
`;

const TTY_SCRIPT = '[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo tty-ok; readlink /proc/self/fd/0; echo ready; read line; echo "got $line"; exit 4';

test('console: the pty master goes to the console socket (runc protocol), the process gets the slave', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  // Longer than sun_path (108 bytes): console-connect connects relative to the directory.
  const sockDir = await tempDir('console-' + 'x'.repeat(100));
  const sock = path.join(sockDir, 'console.sock');
  const receiver = spawn('python3', ['-c', RECEIVER, 'console.sock'], { cwd: sockDir, stdio: ['ignore', 'pipe', 'inherit'] });
  const receiverExit = new Promise((resolve) => receiver.on('exit', resolve));
  defer(async () => {
    if (receiver.exitCode === null) receiver.kill('SIGKILL');
    await receiverExit;
  });
  let got = '';
  receiver.stdout!.on('data', (b: Buffer) => (got += b.toString()));
  while (!got.includes('listening\n')) await new Promise((r) => setTimeout(r, 20));

  const plan = containerPlan(stateDir, ['sh', '-c', TTY_SCRIPT], {
    beforePivot: [{ op: 'console-connect', socketPath: sock }],
    afterPivot: [{ op: 'console' }],
  });
  const r = await runToExit(plan, stateDir);
  assert.deepEqual(r, { status: 4, stdout: '', stderr: '' }); // stdio went to the pty
  await receiverExit;
  const res = JSON.parse(got.slice(got.indexOf('\n') + 1)) as { name: string; fds: number; output: string };
  assert.equal(res.name, '/dev/pts/0'); // from the container's own devpts instance
  assert.equal(res.fds, 1);
  assert.equal(res.output, 'tty-ok\r\n/dev/pts/0\r\nready\r\nhello\r\ngot hello\r\n');
});

test('console: errors for a missing socket and a console without console-connect', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const sock = path.join(stateDir, 'none.sock');
  const missing = containerPlan(stateDir, ['true'], { beforePivot: [{ op: 'console-connect', socketPath: sock }] });
  assert.equal(await setupError(missing, stateDir), `error\t2\tconsole-connect "${sock}": No such file or directory\n`);
  const alone = containerPlan(stateDir, ['true'], { afterPivot: [{ op: 'console' }] });
  assert.equal(await setupError(alone, stateDir), 'error\t22\tconsole: no "console-connect" before it: Invalid argument\n');
  const inMonitor: PlanOp[] = [{ op: 'statedir', path: stateDir }, { op: 'console-proxy' }, { op: 'fork' }];
  assert.match(await setupError(inMonitor, stateDir), /^error\t22\tconsole-proxy: only a child can/);
});

test('console-proxy with plain pipes: the monitor relays the pty to its stdout', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const script = '[ -t 0 ] && [ -t 1 ] && echo tty-ok; readlink /proc/self/fd/1; exit 6';
  const r = await runToExit(containerPlan(stateDir, ['sh', '-c', script], { afterPivot: [{ op: 'console-proxy' }] }), stateDir);
  assert.deepEqual(r, { status: 6, stdout: 'tty-ok\r\n/dev/pts/0\r\n', stderr: '' });
});

// Runs nsinit on a fresh pty as its controlling terminal, like `runa run -t` in a terminal,
// types into it, resizes it, and reports what it saw.
const PTY_DRIVER = String.raw`
import fcntl, json, os, select, struct, sys, termios, time
nsinit, plan = sys.argv[1], sys.argv[2]
master, slave = os.openpty()
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
before = termios.tcgetattr(slave)
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execv(nsinit, [nsinit, plan])
os.close(3)  # the sync pipe: nsinit's to close
out, step, st, raw = b"", 0, None, None
deadline = time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        out += os.read(master, 4096)
    if step == 0 and b"ready" in out:
        lflag = termios.tcgetattr(slave)[3]
        raw = not (lflag & (termios.ICANON | termios.ECHO))
        os.write(master, b"hello\n")
        step = 1
    if step == 1 and b"waiting" in out:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        step = 2
    if st is None:
        p, s = os.waitpid(pid, os.WNOHANG)
        if p:
            st = s
    elif not r:
        break
print(json.dumps({"output": out.decode(), "raw": raw, "restored": termios.tcgetattr(slave) == before,
                  "status": None if st is None else os.waitstatus_to_exitcode(st)}), flush=True)
`;

test('console-proxy on a real terminal: raw mode, input, output, window size, exit status', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const script = [
    '[ -t 0 ] && [ -t 1 ] && echo tty-ok', 'readlink /proc/self/fd/0', 'stty size', 'echo ready',
    'read line', 'echo "got $line"', 'trap \'echo "winch $(stty size)"; exit 7\' WINCH', 'echo waiting',
    'while :; do sleep 0.05; done',
  ].join('\n');
  const planFile = await writePlan(containerPlan(stateDir, ['sh', '-c', script], { afterPivot: [{ op: 'console-proxy' }] }), stateDir);
  const run = spawnWithSync('python3', ['-c', PTY_DRIVER, NSINIT, planFile], planFile);
  const { client } = await start(run, stateDir);
  assert.deepEqual(await client.next(), { type: 'process.exited', exitStatus: 7, signal: 0 });
  assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stderr());
  const res = JSON.parse(run.stdout()) as { output: string; raw: boolean; restored: boolean; status: number };
  assert.deepEqual(res, {
    // "hello" is echoed once: by the container's pty, not by the raw outer terminal
    output: 'tty-ok\r\n/dev/pts/0\r\n33 101\r\nready\r\nhello\r\ngot hello\r\nwaiting\r\nwinch 40 120\r\n',
    raw: true,
    restored: true,
    status: 7,
  });
});

test('paths inside the root: resolved there by openat2, so a symlink to a host directory leads back into the rootfs', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const outside = await tempDir('outside'); // what an escape would reach
  const link = path.join(h.rootfs, 'esc');
  await fs.symlink(outside, link);
  defer(() => fs.rm(link));
  const parts = outside.split('/').filter(Boolean);
  const firstMade = parts.findIndex((_, i) => !existsSync(path.join(h.rootfs, ...parts.slice(0, i + 1))));
  defer(() => fs.rm(path.join(h.rootfs, ...parts.slice(0, firstMade + 1)), { recursive: true, force: true }));
  const S_IFCHR = 0o020000;
  const r = await runToExit(containerPlan(stateDir, ['sh', '-c', `ls -A ${outside}; grep -c " ${outside}/" /proc/self/mountinfo`], {
    beforePivot: [
      { op: 'rootfs', path: h.rootfs },
      // esc -> <outside>: each absolute link is taken as the rootfs's own <outside>, made here.
      ...parts.map((_, i): PlanOp => ({ op: 'mkdir', path: parts.slice(0, i + 1).join('/'), mode: 0o755 })),
      { op: 'mkdir', path: 'esc/dir', mode: 0o755 },
      { op: 'mount', source: 'tmpfs', target: 'esc/dir', fstype: 'tmpfs', flags: 0, data: 'size=64k' },
      { op: 'mkfile', path: 'esc/file', mode: 0o644 },
      { op: 'mount', source: '/etc/hostname', target: 'esc/file', fstype: '', flags: MS.BIND, data: '' },
      { op: 'mknod', path: 'esc/null', mode: S_IFCHR | 0o640, major: 1, minor: 3 },
      { op: 'symlink', target: '/proc/self/fd', linkpath: 'esc/fd' },
      { op: 'mount-setattr', path: 'esc/dir', set: 0x1, clear: 0 },
    ],
  }), stateDir);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['dir', 'fd', 'file', 'null', '2'], 'all of it in the container\'s own copy of the path');
  assert.deepEqual(await fs.readdir(outside), [], 'nothing reached the host directory');
  const made = path.join(h.rootfs, outside);
  const st = await fs.lstat(path.join(made, 'null'));
  assert.equal(st.mode, S_IFCHR | 0o640, 'the node has its exact mode (no umask, no chmod)');

  const noRoot = containerPlan(stateDir, ['true'], { beforePivot: [{ op: 'mkdir', path: 'dev/x', mode: 0o755 }] });
  assert.equal(await setupError(noRoot, stateDir), 'error\t22\tmkdir "dev/x": a path inside the root, but no "rootfs" before it: Invalid argument\n');
});

test('mask refuses a /dev/null that is a symlink or not the null device (CVE-2025-31133)', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const S_IFCHR = 0o020000;
  const afterPivot = (dev: PlanOp[]): PlanOp[] => [
    { op: 'mount', source: 'tmpfs', target: '/mnt', fstype: 'tmpfs', flags: 0, data: 'size=64k' },
    ...dev,
    { op: 'mount', source: '/mnt/null', target: '/dev/null', fstype: '', flags: MS.BIND, data: '' },
    { op: 'mask', path: '/etc/secret' },
  ];
  await fs.mkdir(path.join(h.rootfs, 'mnt'));
  defer(() => fs.rm(path.join(h.rootfs, 'mnt'), { recursive: true }));
  const symlink = containerPlan(stateDir, ['true'], { afterPivot: afterPivot([{ op: 'symlink', target: '/proc/sys/kernel/core_pattern', linkpath: '/mnt/null' }]) });
  // A bind of a symlink mounts what it points at: the /dev/null seen by mask is core_pattern's file, not a symlink.
  assert.match(await setupError(symlink, stateDir), /^error\t22\tmask "\/etc\/secret": "\/dev\/null" is not the null device \(character device 1:3\): refused/);
  const zero = containerPlan(stateDir, ['true'], { afterPivot: afterPivot([{ op: 'mknod', path: '/mnt/null', mode: S_IFCHR | 0o666, major: 1, minor: 5 }]) });
  assert.match(await setupError(zero, stateDir), /^error\t22\tmask "\/etc\/secret": "\/dev\/null" is not the null device/);
  const link = containerPlan(stateDir, ['true'], {
    afterPivot: [{ op: 'mount', source: 'tmpfs', target: '/dev', fstype: 'tmpfs', flags: 0, data: '' }, { op: 'symlink', target: '/proc/sys/kernel/core_pattern', linkpath: '/dev/null' }, { op: 'mask', path: '/etc/secret' }],
  });
  assert.match(await setupError(link, stateDir), /^error\t40\tmask "\/etc\/secret": "\/dev\/null" is a symlink or lies under one: refused/);
});

test('mkdir-like: a directory with another\'s owner and exact mode (set-id bits too, no umask); an existing one or a missing reference is an error naming it', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const ref = await tempDir('ref');
  await fs.chown(ref, 1234, 5678);
  await fs.chmod(ref, 0o2750);
  const made = path.join(stateDir, 'like');
  const r = await runToExit(containerPlan(stateDir, ['true'], { beforePivot: [{ op: 'mkdir-like', path: made, ref }] }), stateDir);
  assert.equal(r.status, 0, r.stderr);
  const st = await fs.stat(made);
  assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [1234, 5678, 0o2750]);
  assert.equal(await setupError(containerPlan(stateDir, ['true'], { beforePivot: [{ op: 'mkdir-like', path: made, ref }] }), stateDir),
    `error\t17\tmkdir-like "${made}": File exists\n`);
  assert.equal(await setupError(containerPlan(stateDir, ['true'], { beforePivot: [{ op: 'mkdir-like', path: `${made}2`, ref: `${ref}/none` }] }), stateDir),
    `error\t2\tmkdir-like "${made}2": stat "${ref}/none": No such file or directory\n`);
});
