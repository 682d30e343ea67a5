// Rootless: regular users, made here (useradd, /etc/subuid and /etc/subgid ranges, an
// XDG_RUNTIME_DIR each), run containers with runa directly: spec, run, exec, ps, kill, pause,
// events, delete, a daemon restart; mappings through newuidmap; runc's refusals; one user
// cannot reach another's (or root's) state root, socket or daemon; the front end and the
// Node.js CLI pick the same state root. Everything made is removed and checked gone.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeRootfs } from './helpers/rootfs.js';
import { Sandbox, alive, cli, runaBin, until, type Result } from './helpers/runa.js';
import { RANGE, freeRange, runToFiles, type User } from './helpers/users.js';

const NEWUIDMAP = ['/usr/bin/newuidmap', '/usr/bin/newgidmap'];
const missing = process.getuid?.() !== 0 ? 'needs root (it creates users)'
  : NEWUIDMAP.some((f) => !fs.existsSync(f)) ? 'newuidmap/newgidmap missing: apt-get install uidmap'
  : spawnSync('setpriv', ['--version']).status !== 0 ? 'setpriv missing (util-linux)' : null;
/** The test's own directory: searchable by the users (their rootfs, bundles and homes are in it). */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-test-rootless-'));
fs.chmodSync(dir, 0o755);
const users: User[] = [];
const subLines: string[] = [];


function addUser(tag: string): User {
  const name = `rl${process.pid}${tag}`;
  const home = path.join(dir, `home-${tag}`);
  const made = spawnSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', '-U', name], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout);
  const subStart = freeRange();
  const line = `${name}:${subStart}:${RANGE}`;
  for (const f of ['/etc/subuid', '/etc/subgid']) fs.appendFileSync(f, `${line}\n`);
  subLines.push(line);
  const xdg = path.join(dir, `xdg-${tag}`);
  fs.mkdirSync(xdg, { mode: 0o700 });
  fs.chownSync(xdg, uid, gid);
  const u = { name, uid, gid, home, xdg, subStart };
  users.push(u);
  return u;
}

let runs = 0;
/**
 * Run a command as the user (setpriv, a clean environment with its XDG_RUNTIME_DIR), output
 * through files: a detached container keeps the caller's stdio.
 */
async function as(u: User, argv: string[], opts: { env?: Record<string, string | undefined>; userns?: boolean } = {}): Promise<Result> {
  const n = ++runs;
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH, HOME: u.home, USER: u.name, LOGNAME: u.name, XDG_RUNTIME_DIR: u.xdg, RUNA_DAEMON_IDLE_MS: '60000', ...opts.env,
  };
  const pairs = Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
  return runToFiles('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', 'env', '-i', ...pairs,
    ...(opts.userns ? ['unshare', '--user', '--map-root-user'] : []), ...argv], { out: path.join(dir, `out-${n}`), err: path.join(dir, `err-${n}`) }, { cwd: dir });
}
const runa = (u: User, args: string[], opts?: Parameters<typeof as>[2]) => as(u, [runaBin, ...args], opts);
const show = (r: Result) => `status ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** Processes whose real uid is the user's. */
function processesOf(uid: number): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      const ruid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      if (ruid === uid || (ruid >= users[0]?.subStart && ruid < users[0]?.subStart + RANGE)) {
        const ppid = /^PPid:\s+(\d+)/m.exec(status)![1];
        const state = /^State:\s+(.*)$/m.exec(status)![1];
        // Dead, waiting for its reaper (this machine's init reaps orphans lazily): gone, as alive() has it.
        if (state.startsWith('Z')) continue;
        const name = /^Name:\s+(.*)$/m.exec(status)![1];
        let parent = '';
        try { parent = fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { /* gone */ }
        out.push(`${p}: ${name} (${state}) ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}, child of ${ppid} ${parent}`);
      }
    } catch { /* gone */ }
  }
  return out;
}

/** The user's daemon, if one runs for its default root. */
function daemonOf(u: User): number | null {
  try { return Number(fs.readFileSync(path.join(u.xdg, 'runa', 'daemon.pid'), 'utf8')); } catch { return null; }
}

/** Cgroup directories named after a container id anywhere under /sys/fs/cgroup/<hierarchy>/runa. */
function cgroupsNamed(id: string): string[] {
  const out: string[] = [];
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const d = path.join('/sys/fs/cgroup', h, 'runa', id);
    if (fs.existsSync(d)) out.push(d);
  }
  return out;
}

let rootfs = '';
let a: User;
let b: User;
const ids: string[] = [];

/** A bundle (as runa spec --rootless would write it, for the user) running `args`. */
function bundle(u: User, args: string[], edit?: (s: any) => void): string {
  const bdir = fs.mkdtempSync(path.join(dir, 'bundle-'));
  fs.chmodSync(bdir, 0o755);
  const spec = specAs(u);
  spec.root.path = rootfs;
  spec.process.terminal = false;
  spec.process.args = args;
  edit?.(spec);
  fs.writeFileSync(path.join(bdir, 'config.json'), JSON.stringify(spec, null, 2), { mode: 0o644 });
  return bdir;
}

/** `runa spec --rootless` as the user, in a directory of its own. */
function specAs(u: User, exe = runaBin): any {
  const d = fs.mkdtempSync(path.join(dir, 'spec-'));
  fs.chownSync(d, u.uid, u.gid);
  const r = spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', exe, 'spec', '--rootless'], { cwd: d, encoding: 'utf8', env: { PATH: process.env.PATH, XDG_RUNTIME_DIR: u.xdg } });
  assert.equal(r.status, 0, r.stderr);
  const spec = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
  fs.rmSync(d, { recursive: true });
  return spec;
}

describe('rootless', { skip: missing ?? false }, () => {
  before(async () => {
    a = addUser('a');
    b = addUser('b');
    rootfs = path.join(dir, 'rootfs');
    await makeRootfs(rootfs);
    spawnSync('chmod', ['-R', 'a+rX', rootfs]);
  });

  after(async () => {
    const left: string[] = [];
    for (const u of users) {
      const list = await runa(u, ['list', '-q']);
      for (const id of list.stdout.split('\n').filter(Boolean)) {
        left.push(`${u.name}: container ${id}`);
        await runa(u, ['delete', '--force', id]);
      }
      const pid = daemonOf(u);
      if (pid) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
        await until(() => !alive(pid), `${u.name}'s daemon to exit`).catch(() => undefined);
      }
    }
    for (const u of users) {
      for (const p of processesOf(u.uid)) {
        left.push(`${u.name}: process ${p}`);
        try { process.kill(Number(p.split(':')[0]), 'SIGKILL'); } catch { /* gone */ }
      }
    }
    for (const id of ids) for (const d of cgroupsNamed(id)) left.push(`cgroup ${d}`);
    for (const u of users) spawnSync('userdel', ['-r', u.name], { stdio: 'ignore' });
    for (const f of ['/etc/subuid', '/etc/subgid']) {
      const kept = fs.readFileSync(f, 'utf8').split('\n').filter((l) => l && !subLines.includes(l));
      fs.writeFileSync(`${f}.runa-test`, kept.map((l) => `${l}\n`).join(''), { mode: 0o644 });
      fs.renameSync(`${f}.runa-test`, f);
    }
    for (const u of users) {
      assert.equal(spawnSync('id', [u.name]).status, 1, `user ${u.name} removed`);
      for (const f of ['/etc/subuid', '/etc/subgid']) assert.doesNotMatch(fs.readFileSync(f, 'utf8'), new RegExp(`^${u.name}:`, 'm'));
    }
    fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'nothing was left');
  });

  test('spec --rootless writes runc\'s rootless config for the caller', () => {
    const spec = specAs(a);
    assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: a.uid, size: 1 }]);
    assert.deepEqual(spec.linux.gidMappings, [{ containerID: 0, hostID: a.gid, size: 1 }]);
    assert.equal(spec.linux.resources, undefined);
    assert.ok(spec.linux.namespaces.some((n: any) => n.type === 'user'));
    assert.ok(!spec.linux.namespaces.some((n: any) => n.type === 'network'));
    if (spawnSync('runc', ['--version']).status !== 0) return;
    // runc's own, as the same user: the same but where runa's default spec differs from runc's
    // (its ociVersion and hostname, and a cgroup namespace, which runc adds on cgroup v2 hosts only).
    const runc = specAs(a, 'runc');
    const normal = (s: any) => ({ ...s, ociVersion: '-', hostname: '-', linux: { ...s.linux, namespaces: s.linux.namespaces.filter((n: any) => n.type !== 'cgroup') } });
    assert.deepEqual(normal(spec), normal(runc));
  });

  test('a user runs a container: mapped to root, its state root in XDG_RUNTIME_DIR, a daemon of its own, no cgroup', async () => {
    ids.push('r1');
    const script = 'id -u; id -g; cat /proc/self/uid_map /proc/self/setgroups; echo x > /dev/null && echo devnull-ok; hostname; ls /sys/kernel >/dev/null && echo sys-ok; exit 3';
    const r = await runa(a, ['run', '-b', bundle(a, ['sh', '-c', script]), 'r1']);
    assert.equal(r.code, 3, show(r));
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.deepEqual(lines, ['0', '0', `0 ${a.uid} 1`, 'deny', 'devnull-ok', 'runa', 'sys-ok']);
    const root = path.join(a.xdg, 'runa');
    const st = fs.statSync(root);
    assert.deepEqual([st.uid, st.mode & 0o777], [a.uid, 0o700]);
    const sock = fs.statSync(path.join(root, 'runa.sock'));
    assert.deepEqual([sock.uid, sock.mode & 0o777], [a.uid, 0o600], 'the socket is the user\'s, 0600');
    const daemon = daemonOf(a)!;
    assert.match(fs.readFileSync(`/proc/${daemon}/status`, 'utf8'), new RegExp(`^Uid:\\s+${a.uid}\\s+${a.uid}\\s+${a.uid}`, 'm'), 'the daemon runs as the user');
    assert.deepEqual(cgroupsNamed('r1'), []);
  });

  test('a sysfs without a network namespace of its own is bound from the host; linux.devices are bound, not made', async () => {
    ids.push('r5');
    const r = await runa(a, ['run', '-b', bundle(a, ['sh', '-c', 'grep " /sys " /proc/self/mountinfo | grep -c sysfs; head -c 4 /dev/zero2 | wc -c; ls -l /dev/zero2'], (s) => {
      s.mounts = s.mounts.map((m: any) => (m.destination === '/sys' ? { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] } : m));
      s.linux.devices = [{ path: '/dev/zero2', type: 'c', major: 1, minor: 5, fileMode: 0o666 }];
    }), 'r5']);
    assert.equal(r.code, 0, show(r));
    const [sysfs, bytes, ls] = r.stdout.trim().split('\n');
    assert.deepEqual([sysfs, bytes.trim()], ['1', '4']);
    assert.match(ls, /^crw-rw-rw- .* 1, +5 /, 'the host\'s /dev/zero, bound');
  });

  test('detached: exec, ps, events, pause refused as runc does, kill, wait and delete; then a daemon killed and restarted re-adopts it', async () => {
    ids.push('r2');
    assert.equal((await runa(a, ['run', '-d', '-b', bundle(a, ['sleep', '1000']), 'r2'])).code, 0);
    const state = JSON.parse((await runa(a, ['state', 'r2'])).stdout);
    assert.equal(state.status, 'running');
    assert.equal(state.owner, a.name);
    assert.match(fs.readFileSync(`/proc/${state.pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${a.uid}\\s`, 'm'));
    assert.notEqual(fs.readlinkSync(`/proc/${state.pid}/ns/user`), fs.readlinkSync('/proc/self/ns/user'));

    const e = await runa(a, ['exec', 'r2', 'sh', '-c', 'id -u; readlink /proc/self/ns/user /proc/self/ns/pid; cat /proc/1/comm; exit 4']);
    assert.equal(e.code, 4, show(e));
    const [uid, userns, pidns, comm] = e.stdout.trim().split('\n');
    assert.deepEqual([uid, userns, pidns, comm], ['0', fs.readlinkSync(`/proc/${state.pid}/ns/user`), fs.readlinkSync(`/proc/${state.pid}/ns/pid`), 'sleep']);

    const ps = await runa(a, ['ps', '--format', 'json', 'r2']);
    assert.deepEqual(JSON.parse(ps.stdout), [state.pid], show(ps));
    const stats = await runa(a, ['events', '--stats', 'r2']);
    assert.equal(stats.code, 0, show(stats));
    assert.equal(JSON.parse(stats.stdout).type, 'stats');
    const pause = await runa(a, ['pause', 'r2']);
    assert.equal(pause.code, 1);
    assert.match(pause.stderr, /cannot toggle freezer: cgroups not configured for container/);
    assert.equal(JSON.parse((await runa(a, ['state', 'r2'])).stdout).status, 'running');

    // The daemon dies; the next one (started by the next command) finds the container again.
    const daemon = daemonOf(a)!;
    process.kill(daemon, 'SIGKILL');
    await until(() => !alive(daemon), 'the daemon to die');
    const list = await runa(a, ['list', '--format', 'json']);
    assert.deepEqual(JSON.parse(list.stdout).map((s: any) => [s.id, s.status]), [['r2', 'running']]);
    assert.equal((await runa(a, ['exec', 'r2', 'true'])).code, 0);
    assert.notEqual(daemonOf(a), daemon, 'a new daemon');

    assert.equal((await runa(a, ['kill', 'r2', 'KILL'])).code, 0);
    assert.deepEqual(JSON.parse((await runa(a, ['wait', 'r2'])).stdout), { id: 'r2', exitStatus: 137 });
    assert.equal((await runa(a, ['delete', 'r2'])).code, 0);
    assert.equal(fs.existsSync(path.join(a.xdg, 'runa', 'r2')), false);
    assert.equal(alive(state.pid), false);
  });

  test('mappings beyond the user\'s own id go through newuidmap/newgidmap and /etc/subuid; others are refused by them', async () => {
    ids.push('r3', 'r4');
    const map = (start: number) => (s: any) => {
      s.linux.uidMappings = [{ containerID: 0, hostID: a.uid, size: 1 }, { containerID: 1, hostID: start, size: RANGE }];
      s.linux.gidMappings = [{ containerID: 0, hostID: a.gid, size: 1 }, { containerID: 1, hostID: start, size: RANGE }];
    };
    assert.equal((await runa(a, ['run', '-d', '-b', bundle(a, ['sleep', '1000'], map(a.subStart)), 'r3'])).code, 0);
    const e = await runa(a, ['exec', '-u', '1000:1000', 'r3', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/setgroups; sleep 1000 & echo $!']);
    assert.equal(e.code, 0, show(e));
    const lines = e.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.deepEqual(lines.slice(0, 5), ['1000', '1000', `0 ${a.uid} 1`, `1 ${a.subStart} ${RANGE}`, 'allow']);
    // The exec'd process's host uid is in the user's subordinate range; the user's daemon still reaches it.
    const ps = JSON.parse((await runa(a, ['ps', '--format', 'json', 'r3'])).stdout) as number[];
    const sub = ps.find((p) => fs.readFileSync(`/proc/${p}/status`, 'utf8').includes(`Uid:\t${a.subStart + 999}\t`));
    assert.ok(sub, `a process of host uid ${a.subStart + 999} in ${ps.join(' ')}`);
    assert.equal((await runa(a, ['kill', '--all', 'r3', 'KILL'])).code, 0);
    assert.equal((await runa(a, ['delete', '--force', 'r3'])).code, 0);
    await until(() => !alive(sub), 'the exec\'d process to die');

    // b's range is not a's: newuidmap says so.
    const r = await runa(a, ['run', '-b', bundle(a, ['true'], map(b.subStart)), 'r4']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /userns: \/usr\/bin\/newuidmap \d+ \(for uid_map\): newuidmap: uid range .* not allowed/);
    assert.equal((await runa(a, ['list', '-q'])).stdout, '');
  });

  test('a cgroup delegated to the user (here v1 pids) is used: limits on it applied, on the others refused; removed on delete', async (t) => {
    // The pids hierarchy gets a cgroup of the user's; its daemon starts there, so the
    // container's cgroup goes below it (runa/<id>, relative to the daemon's own).
    const delegated = path.join('/sys/fs/cgroup/pids', `runa-rootless-${process.pid}`);
    fs.mkdirSync(delegated);
    for (const f of ['', 'cgroup.procs', 'tasks']) fs.chownSync(path.join(delegated, f), a.uid, a.gid);
    const stopDaemon = async () => {
      const pid = daemonOf(a);
      if (!pid || !alive(pid)) return;
      process.kill(pid, 'SIGTERM');
      await until(() => !alive(pid), 'a\'s daemon to exit');
    };
    t.after(async () => {
      await stopDaemon();
      // Exited processes leave a cgroup once reaped (this machine's init reaps orphans lazily).
      await until(() => { try { fs.rmdirSync(delegated); return true; } catch { return false; } }, `${delegated} to empty: ${fs.readFileSync(path.join(delegated, 'cgroup.procs'), 'utf8')}`, 15_000);
    });
    await stopDaemon();
    const inDelegated = async (args: string[]) => as(a, ['sh', '-c', `echo $$ > ${delegated}/cgroup.procs && exec "$@"`, 'sh', runaBin, ...args]);
    ids.push('dg1', 'dg2');
    const refused = await inDelegated(['run', '-b', bundle(a, ['true'], (s) => { s.linux.resources = { pids: { limit: 64 }, memory: { limit: 100_000_000 } }; }), 'dg1']);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /cannot set memory limit: container could not join or create cgroup/);
    assert.equal(fs.existsSync(path.join(delegated, 'runa', 'dg1')), false);

    const r = await inDelegated(['run', '-d', '-b', bundle(a, ['sleep', '1000'], (s) => { s.linux.resources = { pids: { limit: 64 } }; }), 'dg2']);
    assert.equal(r.code, 0, show(r));
    const leaf = path.join(delegated, 'runa', 'dg2');
    assert.equal(fs.readFileSync(path.join(leaf, 'pids.max'), 'utf8').trim(), '64');
    const init = JSON.parse((await runa(a, ['state', 'dg2'])).stdout).pid as number;
    assert.ok(fs.readFileSync(path.join(leaf, 'cgroup.procs'), 'utf8').split('\n').includes(String(init)), 'the init is in it');
    // A restarted daemon opens the same cgroup (the hierarchies in use were recorded) and removes it on delete.
    const daemon = daemonOf(a)!;
    process.kill(daemon, 'SIGKILL');
    await until(() => !alive(daemon), 'the daemon to die');
    const stats = JSON.parse((await inDelegated(['events', '--stats', 'dg2'])).stdout);
    assert.equal(stats.data.pids.current, 1, `the init (its monitor stays out of the pids cgroup): ${JSON.stringify(stats.data.pids)}`);
    assert.equal((await inDelegated(['delete', '--force', 'dg2'])).code, 0);
    assert.equal(fs.existsSync(leaf), false, 'its cgroup is removed');
    assert.equal(fs.existsSync(path.join(delegated, 'runa')), false, 'and runa/ below the delegated one');
  });

  test('what cannot work rootless is refused in runc\'s words, and leaves nothing', async () => {
    const cases: Array<[string, (s: any) => void, RegExp, string[]?]> = [
      ['nouserns', (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'user'); delete s.linux.uidMappings; delete s.linux.gidMappings; }, /^rootless container requires user namespaces$/m],
      ['memory', (s) => { s.linux.resources = { memory: { limit: 100_000_000 } }; }, /cannot set memory limit: container could not join or create cgroup/],
      ['pids', (s) => { s.linux.resources = { pids: { limit: 100 } }; }, /cannot set pids limit: container could not join or create cgroup/],
      // --rootless false: cgroup permission errors are not ignored.
      ['strict', () => {}, /cgroups: cannot create \/sys\/fs\/cgroup\/.*: EACCES/, ['--rootless', 'false']],
      // An explicit cgroupsPath is never ignored (runc).
      ['cgpath', (s) => { s.linux.cgroupsPath = `/runa-rootless-test-${process.pid}`; }, /cgroups: cannot create \/sys\/fs\/cgroup\/.*: EACCES/],
      ['oom', (s) => { s.process.oomScoreAdj = -500; }, /oom_score_adj.*Permission denied/],
      ['groups', (s) => { s.process.user.additionalGids = [0]; }, /^cannot set any additional groups in a rootless container$/m],
      ['wide', (s) => { s.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }]; }, /newuidmap .*not allowed|not allowed/],
    ];
    for (const [id, edit, message, globals] of cases) {
      ids.push(id);
      const r = await runa(a, [...(globals ?? []), 'run', '-b', bundle(a, ['true'], edit), id]);
      assert.equal(r.code, 1, `${id}: ${show(r)}`);
      assert.match(r.stderr, message, id);
      assert.equal(fs.existsSync(path.join(a.xdg, 'runa', id)), false, `${id}: no state dir`);
      assert.deepEqual(cgroupsNamed(id), [], `${id}: no cgroup`);
    }
    assert.equal((await runa(a, ['list', '-q'])).stdout, '');
  });

  test('a user cannot reach another user\'s or root\'s state root, socket or daemon', async (t) => {
    ids.push('mine');
    // a has a container; root has one in a state root of its own.
    assert.equal((await runa(a, ['run', '-d', '-b', bundle(a, ['sleep', '1000']), 'mine'])).code, 0);
    const sb = new Sandbox('rootless-root');
    t.after(async () => { await sb.cleanup(); });
    const rootBundle = await sb.bundle(['sleep', '1000']);
    assert.equal((await sb.run(['run', '-d', '-b', rootBundle, 'roots'])).code, 0);
    fs.chmodSync(sb.dir, 0o755); // only the state root itself (0700) and its socket (0600) keep b out

    const aRoot = path.join(a.xdg, 'runa');
    for (const [root, id] of [[aRoot, 'mine'], [sb.root, 'roots']] as const) {
      for (const args of [['list'], ['state', id], ['kill', id, 'KILL'], ['delete', '--force', id], ['exec', id, 'true'], ['ps', id]]) {
        const r = await runa(b, ['--root', root, ...args]);
        assert.notEqual(r.code, 0, `${args.join(' ')} in ${root}: ${show(r)}`);
        assert.match(r.stderr, /permission denied/, `${args.join(' ')} in ${root}: ${show(r)}`);
      }
      // The socket itself, straight: EACCES (the root dir is 0700, the socket 0600).
      const connect = await as(b, [process.execPath, '-e', `require('net').connect(${JSON.stringify(path.join(root, 'runa.sock'))}).on('error', (e) => { console.log(e.code); process.exit(0); }).on('connect', () => { console.log('connected'); process.exit(0); })`]);
      assert.equal(connect.stdout.trim(), 'EACCES', `${root}: ${show(connect)}`);
    }
    // Nothing was touched.
    assert.equal(JSON.parse((await runa(a, ['state', 'mine'])).stdout).status, 'running');
    assert.equal(JSON.parse((await sb.run(['state', 'roots'])).stdout).status, 'running');

    // The daemon's lock cannot be squatted: it is a flock on a file in a's root, which b cannot
    // open (the root is a's, 0700), so a's daemon starts whatever b does.
    const daemon = daemonOf(a)!;
    process.kill(daemon, 'SIGTERM');
    await until(() => !alive(daemon), 'a\'s daemon to exit');
    const squat = spawnSync('setpriv', ['--reuid', String(b.uid), '--regid', String(b.gid), '--init-groups', 'flock', '-n', path.join(fs.realpathSync(aRoot), 'daemon.lock'), 'true'], { encoding: 'utf8' });
    assert.notEqual(squat.status, 0, 'b cannot take a\'s lock');
    assert.match(squat.stderr, /Permission denied/);
    const s = await runa(a, ['state', 'mine']);
    assert.equal(JSON.parse(s.stdout).status, 'running', show(s));
    const k = await runa(a, ['delete', '--force', 'mine']);
    assert.equal(k.code, 0, show(k));
    assert.ok(daemonOf(a) && alive(daemonOf(a)!), 'a\'s daemon runs');
    assert.equal(fs.statSync(path.join(aRoot, 'daemon.lock')).mode & 0o777, 0o600);
    assert.equal((await sb.run(['delete', '--force', 'roots'])).code, 0);
  });

  test('the front end and the Node.js CLI choose the same state root', async () => {
    /** Start a daemon through the front end (delete of nothing starts one): where it lives, and what the Node CLI says. */
    const probe = async (env: Record<string, string | undefined>, userns = false) => {
      const front = await runa(a, ['delete', 'none'], { env, userns });
      const node = await as(a, [cli, 'delete', 'none'], { env, userns });
      return { front, node };
    };
    const daemons = () => fs.readdirSync(dir).filter((d) => d.startsWith('xdg-probe') && fs.existsSync(path.join(dir, d, 'runa', 'daemon.pid')));
    const fresh = (tag: string) => {
      const d = path.join(dir, `xdg-probe-${tag}`);
      fs.mkdirSync(d, { mode: 0o700 });
      fs.chownSync(d, a.uid, a.gid);
      return d;
    };
    const stop = async (xdg: string) => {
      const pid = Number(fs.readFileSync(path.join(xdg, 'runa', 'daemon.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
      await until(() => !alive(pid), 'the probe daemon to exit');
      fs.rmSync(xdg, { recursive: true });
    };

    // A user: $XDG_RUNTIME_DIR/runa (a trailing slash changes nothing). Both reach one daemon there.
    for (const [tag, suffix] of [['plain', ''], ['slash', '/']]) {
      const xdg = fresh(tag);
      const { front, node } = await probe({ XDG_RUNTIME_DIR: xdg + suffix });
      assert.match(front.stderr, /container does not exist/, show(front));
      assert.match(node.stderr, /container does not exist/, show(node));
      assert.deepEqual(daemons(), [`xdg-probe-${tag}`], 'one daemon, in XDG_RUNTIME_DIR/runa');
      await stop(xdg);
    }
    // No XDG_RUNTIME_DIR, or a relative one: both refuse (the front end leaves it to the CLI's words).
    for (const value of [undefined, 'relative/dir']) {
      const { front, node } = await probe({ XDG_RUNTIME_DIR: value });
      for (const r of [front, node]) {
        assert.equal(r.code, 1);
        assert.match(r.stderr, value ? /XDG_RUNTIME_DIR=relative\/dir is not an absolute path/ : /rootless: XDG_RUNTIME_DIR is not set/);
      }
    }
    // uid 0 of a user namespace that maps only the user (rootless podman's case): XDG_RUNTIME_DIR
    // unless USER is root, then /run/runa, which this user cannot use.
    const xdg = fresh('userns');
    const inNs = await probe({ XDG_RUNTIME_DIR: xdg }, true);
    assert.match(inNs.front.stderr, /container does not exist/, show(inNs.front));
    assert.match(inNs.node.stderr, /container does not exist/, show(inNs.node));
    assert.deepEqual(daemons(), ['xdg-probe-userns']);
    await stop(xdg);
    const asRoot = await probe({ XDG_RUNTIME_DIR: fresh('root'), USER: 'root' }, true);
    for (const r of [asRoot.front, asRoot.node]) assert.match(r.stderr, /\/run\/runa/, show(r));
    assert.deepEqual(daemons(), []);
  });
});
