// runc's fine print, side by side: the same command and config run by runa and by runc (when
// installed), comparing the exit status, what the container saw, and the key words of errors.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import path from 'node:path';
import { alive, runaBin, Sandbox, sleep, until } from './helpers/runa.js';

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].find((p) => fs.existsSync(p));
const sb = new Sandbox('parity');
const runcRoot = path.join(sb.dir, 'runc-state');

interface Out { status: number | null; stdout: string; stderr: string }
type Runtime = 'runa' | 'runc';

/** Run one runtime's CLI; output through files (a container's stdio would hold pipes open). */
function call(rt: Runtime, args: string[], extraFd?: number): Out {
  const out = path.join(sb.dir, `${rt}.out`);
  const err = path.join(sb.dir, `${rt}.err`);
  const o = fs.openSync(out, 'w+');
  const e = fs.openSync(err, 'w+');
  const argv = rt === 'runa' ? [runaBin, '--root', sb.root, ...args] : [RUNC!, '--root', runcRoot, ...args];
  const stdio: Array<number | 'ignore'> = ['ignore', o, e];
  if (extraFd !== undefined) stdio.push(extraFd);
  const r = spawnSync(argv[0], argv.slice(1), { stdio, timeout: 30_000, env: { ...process.env, RUNA_DAEMON_IDLE_MS: '60000' } });
  fs.closeSync(o);
  fs.closeSync(e);
  return { status: r.status, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
}
const both = (args: (rt: Runtime) => string[], extraFd?: () => number) =>
  ({ runa: call('runa', args('runa'), extraFd?.()), runc: call('runc', args('runc'), extraFd?.()) });

let n = 0;
/** A bundle (runc's default spec, edited) shared by both runtimes. */
const bundle = (args: string[], edit?: (s: any) => void) => sb.bundle(args, edit);
/** Run a foreground container under both runtimes: [runa, runc]. */
async function runBoth(args: string[], edit?: (s: any) => void): Promise<Record<Runtime, Out>> {
  const b = await bundle(args, edit);
  const id = `p${++n}`;
  return both((rt) => ['run', '-b', b, `${id}${rt}`]);
}

describe('side by side with runc', { skip: RUNC ? false : 'runc not installed: apt-get install runc' }, () => {
  before(() => fs.mkdirSync(runcRoot, { recursive: true }));
  after(async () => {
    for (const id of JSON.parse(call('runc', ['list', '--format', 'json']).stdout || '[]') ?? []) call('runc', ['delete', '--force', id.id]);
    const { leftovers, mounts } = await sb.cleanup();
    assert.deepEqual(leftovers, []);
    assert.deepEqual(mounts, []);
  });

  test('kill ID 0, exec into a created container, exec into a paused one (255), ps of a stopped one', async () => {
    const b = await bundle(['sleep', '1000']);
    const r = both((rt) => ['run', '-d', '-b', b, `k${rt}`]);
    assert.deepEqual([r.runa.status, r.runc.status], [0, 0], r.runa.stderr + r.runc.stderr);
    const k0 = both((rt) => ['kill', `k${rt}`, '0']);
    assert.deepEqual([k0.runa.status, k0.runc.status], [0, 0]);
    const cr = both((rt) => ['create', '-b', b, `c${rt}`]);
    assert.deepEqual([cr.runa.status, cr.runc.status], [0, 0]);
    const ec = both((rt) => ['exec', `c${rt}`, 'sh', '-c', 'exit 3']);
    assert.deepEqual([ec.runa.status, ec.runc.status], [3, 3], ec.runa.stderr + ec.runc.stderr);
    both((rt) => ['pause', `k${rt}`]);
    const ep = both((rt) => ['exec', `k${rt}`, 'true']);
    assert.deepEqual([ep.runa.status, ep.runc.status], [255, 255]);
    for (const o of [ep.runa, ep.runc]) assert.match(o.stderr, /cannot exec in a paused container \(use --ignore-paused to override\)/);
    both((rt) => ['resume', `k${rt}`]);
    both((rt) => ['kill', `k${rt}`, 'KILL']);
    await until(() => ['runa', 'runc'].every((rt) => JSON.parse(call(rt as Runtime, ['state', `k${rt}`]).stdout).status === 'stopped'), 'both stopped');
    const ps = both((rt) => ['ps', `k${rt}`]);
    assert.deepEqual([ps.runa.status, ps.runc.status], [0, 0]);
    for (const o of [ps.runa, ps.runc]) assert.match(o.stdout, /^UID\s+PID\s+PPID/);
    for (const id of ['k', 'c']) both((rt) => ['delete', '--force', `${id}${rt}`]);
  });

  test('kill of a created container: SIGTERM ends the waiting init (stopped), SIGWINCH and SIGUSR1 change nothing', async () => {
    const b = await bundle(['sleep', '1000']);
    const cr = both((rt) => ['create', '-b', b, `g${rt}`]);
    assert.deepEqual([cr.runa.status, cr.runc.status], [0, 0], cr.runa.stderr + cr.runc.stderr);
    const st = (rt: Runtime) => JSON.parse(call(rt, ['state', `g${rt}`]).stdout);
    const initPid = st('runa').pid as number;
    assert.ok(initPid > 0);
    // runc's init waits in Go, which drops SIGUSR1 (and every signal but the fatal ones); SIGWINCH is ignored by default.
    for (const sig of ['WINCH', 'USR1']) {
      const k = both((rt) => ['kill', `g${rt}`, sig]);
      assert.deepEqual([k.runa.status, k.runc.status], [0, 0], k.runa.stderr + k.runc.stderr);
    }
    await sleep(300);
    assert.deepEqual([st('runa').status, st('runc').status], ['created', 'created']);
    assert.ok(alive(initPid), 'the waiting init is still there');
    const k = both((rt) => ['kill', `g${rt}`, 'TERM']);
    assert.deepEqual([k.runa.status, k.runc.status], [0, 0], k.runa.stderr + k.runc.stderr);
    await until(() => st('runa').status === 'stopped' && st('runc').status === 'stopped', 'both stopped');
    assert.deepEqual([st('runa').pid, st('runc').pid], [0, 0]);
    await until(() => !alive(initPid), 'the init gone');
    // runc's init exits 2 (Go's fallback when the kernel keeps a pid namespace's init from dying of the signal); runa's 128+15.
    const w = call('runa', ['wait', 'gruna']);
    assert.deepEqual(JSON.parse(w.stdout), { id: 'gruna', exitStatus: 143 }, w.stderr);
    const start = both((rt) => ['start', `g${rt}`]);
    assert.deepEqual([start.runa.status, start.runc.status], [1, 1]);
    const d = both((rt) => ['delete', `g${rt}`]);
    assert.deepEqual([d.runa.status, d.runc.status], [0, 0], d.runa.stderr + d.runc.stderr);
    assert.deepEqual([call('runa', ['list', '-q']).stdout, call('runc', ['list', '-q']).stdout], ['', '']);

    // Without a pid namespace of its own the init is an ordinary process: it dies of the signal itself.
    const nb = await bundle(['sleep', '1000'], (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid'); });
    assert.equal(call('runa', ['create', '-b', nb, 'gnopid']).status, 0);
    assert.equal(call('runa', ['kill', 'gnopid', 'HUP']).status, 0);
    await until(() => JSON.parse(call('runa', ['state', 'gnopid']).stdout).status === 'stopped', 'stopped');
    assert.deepEqual(JSON.parse(call('runa', ['wait', 'gnopid']).stdout), { id: 'gnopid', exitStatus: 129 });
    assert.equal(call('runa', ['delete', 'gnopid']).status, 0);
  });

  test('--version has three lines in the same order; --log is created when nothing fails', () => {
    const v = both(() => ['--version']);
    for (const o of [v.runa, v.runc]) {
      const lines = o.stdout.trim().split('\n');
      assert.match(lines[0], /^\w+ version /);
      assert.match(lines[1], /^commit: /);
      assert.match(lines[2], /^spec: 1\./);
    }
    const logs = { runa: path.join(sb.dir, 'runa.log'), runc: path.join(sb.dir, 'runc.log') };
    const l = both((rt) => ['--log', logs[rt], 'list']);
    assert.deepEqual([l.runa.status, l.runc.status], [0, 0]);
    assert.ok(fs.existsSync(logs.runa) && fs.existsSync(logs.runc));
  });

  test('rro, a default device listed again, a read-only /dev, a cwd only root can enter, exec -p without a user', async () => {
    const host = path.join(sb.dir, 'rro');
    fs.mkdirSync(path.join(host, 'sub'), { recursive: true });
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'parity-sub', path.join(host, 'sub')]).status, 0);
    try {
      const rro = await runBoth(['sh', '-c', 'touch /data/sub/x 2>/dev/null && echo rw || echo ro'], (s) => {
        s.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind', 'rro'] });
      });
      assert.deepEqual([rro.runa.stdout, rro.runc.stdout], ['ro\n', 'ro\n'], rro.runa.stderr + rro.runc.stderr);
    } finally {
      spawnSync('umount', ['-l', path.join(host, 'sub')]);
    }
    // runc needs the device allowed in the device cgroup too (its default rules stop applying to a listed device).
    const dev = await runBoth(['stat', '-c', '%t %T %a', '/dev/null'], (s) => {
      s.linux.devices = [{ type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666 }];
      s.linux.resources.devices.push({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
    });
    assert.deepEqual([dev.runa.stdout, dev.runc.stdout], ['1 3 666\n', '1 3 666\n'], dev.runa.stderr + dev.runc.stderr);
    const ro = await runBoth(['sh', '-c', 'touch /dev/x 2>/dev/null && echo rw || echo ro'], (s) => {
      const d = s.mounts.find((m: any) => m.destination === '/dev');
      d.options = [...d.options, 'ro'];
    });
    assert.deepEqual([ro.runa.stdout, ro.runc.stdout], ['ro\n', 'ro\n'], ro.runa.stderr + ro.runc.stderr);
    fs.mkdirSync(path.join(await sb.rootfs(), 'rootonly'), { mode: 0o700 });
    const cwd = await runBoth(['sh', '-c', 'pwd'], (s) => { s.process.user = { uid: 1000, gid: 1000 }; s.process.cwd = '/rootonly'; });
    assert.deepEqual([cwd.runa.stdout, cwd.runc.stdout], ['/rootonly\n', '/rootonly\n'], cwd.runa.stderr + cwd.runc.stderr);
    fs.rmdirSync(path.join(await sb.rootfs(), 'rootonly'));

    const b = await bundle(['sleep', '1000']);
    both((rt) => ['run', '-d', '-b', b, `e${rt}`]);
    const proc = path.join(sb.dir, 'process.json');
    fs.writeFileSync(proc, JSON.stringify({ args: ['sh', '-c', 'id -u; id -g'], cwd: '/', env: ['PATH=/bin:/usr/bin'] }));
    const ep = both((rt) => ['exec', '-p', proc, `e${rt}`]);
    assert.deepEqual([ep.runa.stdout, ep.runc.stdout], ['0\n0\n', '0\n0\n'], ep.runa.stderr + ep.runc.stderr);
    // --preserve-fds: fd 3 of the caller reaches the process.
    const file = path.join(sb.dir, 'fd3');
    fs.writeFileSync(file, 'fd three\n');
    const pf = both((rt) => ['exec', '--preserve-fds', '1', `e${rt}`, 'sh', '-c', 'cat <&3'], () => fs.openSync(file, 'r'));
    assert.deepEqual([pf.runa.stdout, pf.runc.stdout], ['fd three\n', 'fd three\n'], pf.runa.stderr + pf.runc.stderr);
    both((rt) => ['delete', '--force', `e${rt}`]);
  });

  test('update --cpu-share, and a pre-existing frozen cgroup refused by both', async () => {
    const cg = (rt: Runtime, sub: string) => `/runa-parity-${process.pid}/${rt}-${sub}`;
    const b = (rt: Runtime) => bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cg(rt, 'u'); });
    const bundles = { runa: await b('runa'), runc: await b('runc') };
    both((rt) => ['run', '-d', '-b', bundles[rt], `u${rt}`]);
    const u = both((rt) => ['update', '--cpu-share', '300', `u${rt}`]);
    assert.deepEqual([u.runa.status, u.runc.status], [0, 0], u.runa.stderr + u.runc.stderr);
    for (const rt of ['runa', 'runc'] as const) assert.equal(fs.readFileSync(`/sys/fs/cgroup/cpu${cg(rt, 'u')}/cpu.shares`, 'utf8').trim(), '300');
    both((rt) => ['delete', '--force', `u${rt}`]);

    const frozen = (rt: Runtime) => `/sys/fs/cgroup/freezer${cg(rt, 'f')}`;
    for (const rt of ['runa', 'runc'] as const) {
      fs.mkdirSync(frozen(rt), { recursive: true });
      fs.writeFileSync(path.join(frozen(rt), 'freezer.state'), 'FROZEN');
    }
    try {
      const fb = { runa: await bundle(['true'], (s) => { s.linux.cgroupsPath = cg('runa', 'f'); }), runc: await bundle(['true'], (s) => { s.linux.cgroupsPath = cg('runc', 'f'); }) };
      const f = both((rt) => ['run', '-d', '-b', fb[rt], `f${rt}`]);
      assert.notEqual(f.runa.status, 0);
      assert.notEqual(f.runc.status, 0);
      for (const o of [f.runa, f.runc]) assert.match(o.stderr, /frozen/);
      both((rt) => ['delete', '--force', `f${rt}`]);
    } finally {
      for (const rt of ['runa', 'runc'] as const) {
        fs.writeFileSync(path.join(frozen(rt), 'freezer.state'), 'THAWED');
      }
      for (const c of fs.readdirSync('/sys/fs/cgroup')) {
        for (const rt of ['runa', 'runc'] as const) for (const sub of ['u', 'f']) { try { fs.rmdirSync(`/sys/fs/cgroup/${c}${cg(rt, sub)}`); } catch { /* not there */ } }
        try { fs.rmdirSync(`/sys/fs/cgroup/${c}/runa-parity-${process.pid}`); } catch { /* not there */ }
      }
    }
  });
});


