// exec and ps: new processes in a running container, with runc's defaults.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, alive, until } from './helpers/runa.js';

const sb = new Sandbox('exec');
let boxInit = 0;
before(async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => {
    s.process.env.push('FROM_CONFIG=yes');
    s.process.cwd = '/tmp';
    s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' });
  });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'box'])).code, 0);
  boxInit = JSON.parse((await sb.run(['state', 'box'])).stdout).pid;
});
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

test('exec runs in all the container\'s namespaces with its env and cwd, and propagates the status', async () => {
  const init = boxInit;
  const r = await sb.run(['exec', 'box', 'sh', '-c', 'echo $FROM_CONFIG; pwd; readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/net /proc/self/ns/uts /proc/self/ns/ipc; cat /proc/1/comm; exit 5']);
  assert.equal(r.code, 5, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'yes');
  assert.equal(lines[1], '/tmp');
  const ns = ['pid', 'mnt', 'net', 'uts', 'ipc'].map((n) => fs.readlinkSync(`/proc/${init}/ns/${n}`));
  assert.deepEqual(lines.slice(2, 7), ns);
  assert.equal(lines[7], 'sleep', 'PID 1 is the container\'s init');
});

test('exec flags: --env, --cwd, --user, --additional-gids, --cap, --no-new-privs', async () => {
  const r = await sb.run(['exec', '--env', 'A=1', '-e', 'B=2', '--cwd', '/', '--user', '1000:1000', '--additional-gids', '7',
    '--cap', 'CAP_KILL', '--no-new-privs', 'box', 'sh', '-c', 'echo $A$B; pwd; id -u; id -G; grep -E "CapBnd|NoNewPrivs" /proc/self/status']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 4), ['12', '/', '1000', '1000 7']);
  assert.match(r.stdout, /CapBnd:\s+00000000200004[0-9a-f]{2}/);
  assert.match(r.stdout, /NoNewPrivs:\s+1/);
});

test('exec --process takes a whole process.json', async () => {
  const file = path.join(sb.dir, 'process.json');
  fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'echo $ONLY; id -u'], env: ['ONLY=this'], cwd: '/', user: { uid: 42, gid: 42 } }));
  const r = await sb.run(['exec', '--process', file, 'box']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'this\n42\n');
  // No user: uid 0, gid 0, as runc reads it.
  fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'id -u; id -g'], cwd: '/' }));
  const noUser = await sb.run(['exec', '-p', file, 'box']);
  assert.equal(noUser.code, 0, noUser.stderr);
  assert.equal(noUser.stdout, '0\n0\n');
  fs.writeFileSync(file, JSON.stringify({ args: [], cwd: 'rel', user: { uid: 0, gid: 0 } }));
  const bad = await sb.run(['exec', '-p', file, 'box']);
  assert.equal(bad.code, 255, 'runc: every exec failure but a usage error exits 255');
  assert.match(bad.stderr, /process\.json: args: must name the program to run; cwd: must be an absolute path/);
});

test('exec exits 128+signal, and an exec\'d process exiting leaves the container running', async () => {
  const r = await sb.run(['exec', 'box', 'sh', '-c', 'kill -TERM $$']);
  assert.equal(r.code, 143, r.stderr);
  assert.equal(JSON.parse((await sb.run(['state', 'box'])).stdout).status, 'running');
});

test('exec of a missing program fails with runc-like wording', async () => {
  const r = await sb.run(['exec', 'box', '/bin/nope']);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /exec failed: exec "\/bin\/nope": No such file or directory/);
});

test('exec -d with --pid-file, then ps lists it (table and JSON)', async () => {
  const pidFile = path.join(sb.dir, 'exec.pid');
  const r = await sb.run(['exec', '-d', '--pid-file', pidFile, 'box', 'sleep', '777']);
  assert.equal(r.code, 0, r.stderr);
  // The pid file names the exec'd process itself (supervised: the caller's to reap).
  const execPid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(alive(execPid));
  assert.equal(fs.readFileSync(`/proc/${execPid}/comm`, 'utf8').trim(), 'sleep');
  const json = JSON.parse((await sb.run(['ps', '--format', 'json', 'box'])).stdout) as number[];
  const init = boxInit;
  assert.ok(json.includes(init) && json.includes(execPid), `${json} has ${init} and ${execPid}`);
  const table = await sb.run(['ps', 'box']);
  assert.match(table.stdout, /^UID\s+PID\s+PPID/);
  assert.match(table.stdout, /sleep 777/);
  assert.match(table.stdout, /sleep 1000/);
  process.kill(execPid, 'SIGKILL');
  await until(() => !alive(execPid), 'the exec\'d process is gone');
});

test('exec into a created container runs while the init waits (runc); into a stopped one it is refused; ps shows what runc shows', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'exit 0']);
  assert.equal((await sb.run(['create', '-b', bundle, 'idle'])).code, 0);
  const r = await sb.run(['exec', 'idle', 'sh', '-c', 'cat /proc/1/comm; exit 4']);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stdout, 'nsinit\n', 'the init still waits at its gate');
  assert.equal(JSON.parse((await sb.run(['state', 'idle'])).stdout).status, 'created');
  // ps, as runc: the waiting init of a created container, the header alone for a stopped one.
  const init = JSON.parse((await sb.run(['state', 'idle'])).stdout).pid;
  assert.deepEqual(JSON.parse((await sb.run(['ps', '--format', 'json', 'idle'])).stdout), [init]);
  assert.equal((await sb.run(['start', 'idle'])).code, 0);
  await until(async () => JSON.parse((await sb.run(['state', 'idle'])).stdout).status === 'stopped', 'stopped');
  assert.match((await sb.run(['exec', 'idle', 'true'])).stderr, /cannot exec container "idle" in state stopped/);
  const stoppedPs = await sb.run(['ps', 'idle']);
  assert.equal(stoppedPs.code, 0, stoppedPs.stderr);
  assert.match(stoppedPs.stdout, /^UID\s+PID\s+PPID.*\n$/);
  assert.equal((await sb.run(['ps', '--format', 'json', 'idle'])).stdout, '[]\n');
  assert.equal((await sb.run(['delete', 'idle'])).code, 0);
  assert.match((await sb.run(['exec', 'ghost', 'true'])).stderr, /container does not exist/);
  assert.match((await sb.run(['exec', 'box'])).stderr, /both a container-id and command are required/);
});

test('a container sharing the host\'s pid namespace: ps and kill --all reach only its own processes', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'pid'); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'hostpid'])).code, 0);
  const init = JSON.parse((await sb.run(['state', 'hostpid'])).stdout).pid;
  const pids = JSON.parse((await sb.run(['ps', '--format', 'json', 'hostpid'])).stdout) as number[];
  assert.deepEqual(pids, [init], 'only the container\'s own process, not the host\'s');
  assert.ok(!pids.includes(process.pid));
  const waiter = sb.run(['wait', 'hostpid']);
  assert.equal((await sb.run(['kill', '--all', 'hostpid', 'KILL'])).code, 0);
  assert.equal(JSON.parse((await waiter).stdout).exitStatus, 137);
  assert.ok(alive(process.pid), 'the test runner (same pid namespace) is untouched');
  assert.equal((await sb.run(['delete', 'hostpid'])).code, 0);
});

test('a 64-character id under a long root: socket paths past sun_path\'s 108 bytes still connect', async () => {
  const id = 'f'.repeat(64);
  assert.ok(Buffer.byteLength(path.join(sb.root, id, 'exec', '0123456789abcdef', 'monitor.sock')) > 108);
  const bundle = await sb.bundle(['sleep', '1000']);
  const r = await sb.run(['run', '-d', '-b', bundle, id]);
  assert.equal(r.code, 0, r.stderr);
  const e = await sb.run(['exec', id, 'sh', '-c', 'exit 3']);
  assert.equal(e.code, 3, e.stderr);
  assert.equal(JSON.parse((await sb.run(['state', id])).stdout).status, 'running');
  assert.equal((await sb.run(['delete', '-f', id])).code, 0);
});

test('--preserve-fds N hands the caller\'s fds 3 .. 2+N to the process (exec and run), as runc does', async () => {
  const { spawnSync: runSync } = await import('node:child_process');
  const { runaBin } = await import('./helpers/runa.js');
  const file = path.join(sb.dir, 'preserved');
  fs.writeFileSync(file, 'from fd 3\n');
  const withFd3 = (args: string[]) => {
    const fd = fs.openSync(file, 'r');
    try {
      return runSync(runaBin, ['--root', sb.root, ...args], { stdio: ['ignore', 'pipe', 'pipe', fd], encoding: 'utf8', timeout: 30_000 });
    } finally {
      fs.closeSync(fd);
    }
  };
  const e = withFd3(['exec', '--preserve-fds', '1', 'box', 'sh', '-c', 'cat <&3; ls /proc/self/fd | wc -l']);
  assert.equal(e.status, 0, e.stderr);
  // 0, 1, 2, 3 and the fd ls opens for /proc/self/fd: nothing else leaked.
  assert.deepEqual(e.stdout.trim().split('\n'), ['from fd 3', '5']);
  const bundle = await sb.bundle(['sh', '-c', 'cat <&3']);
  const r = withFd3(['run', '--preserve-fds', '1', '-b', bundle, 'pfd']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'from fd 3\n');
  const bad = withFd3(['exec', '--preserve-fds', 'x', 'box', 'true']);
  assert.equal(bad.status, 1, 'a flag value error is a usage error');
  assert.match(bad.stderr, /invalid --preserve-fds value "x"/);
});
