// Rootless podman with runa: a regular user made here (useradd, /etc/subuid and /etc/subgid
// ranges, an XDG_RUNTIME_DIR) loads the busybox image and runs containers with
// `podman --runtime <runa>`. podman calls runa as uid 0 of its own user namespace (the user's
// id and subordinate range), with XDG_RUNTIME_DIR and no --root: runa's state root is then
// $XDG_RUNTIME_DIR/runa and its daemon lives in podman's namespaces. Everything made is removed
// (containers, the user's podman storage, podman's pause process and every process of the
// user, the user itself and its ranges) and checked gone.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Podman, RUNTIME, command, inPty, show, stateDirs, which, type CmdOpts, type CmdResult } from './helpers/callers.js';
import { IMAGE, busyboxMissing, writeBusyboxImage } from './helpers/oci-image.js';
import { runaBin, until } from './helpers/runa.js';
import { RANGE, freeRange, type User } from './helpers/users.js';

const missing = process.getuid?.() !== 0 ? 'needs root (it creates a user)'
  : Podman.missing()
  ?? (['newuidmap', 'newgidmap'].some((t) => !which(t)) ? 'newuidmap/newgidmap missing: apt-get install uidmap' : null)
  ?? (!which('setpriv') ? 'setpriv missing (util-linux)' : null)
  ?? busyboxMissing();

/** RUNA_E2E_RUNTIME=/usr/sbin/runc gives a baseline; runa's own state is checked only with runa. */
const RUNTIME_IS_RUNA = RUNTIME === runaBin;
/** podman's global flags: the user's default storage (in its home) and runroot (in XDG_RUNTIME_DIR), no systemd. */
const GLOBAL = ['--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', RUNTIME];
const RUN = ['--network', 'none'];


/** Live processes (not zombies) of the user: its own uid, or one of its subordinate range (the containers' users). */
function processesOf(u: User): Array<{ pid: number; line: string }> {
  const out: Array<{ pid: number; line: string }> = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      const ruid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      if (/^State:\s+Z/m.test(status)) continue;
      if (ruid === u.uid || (ruid >= u.subStart && ruid < u.subStart + RANGE)) {
        out.push({ pid: Number(p), line: `${p}: ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}` });
      }
    } catch { /* gone */ }
  }
  return out;
}

/** Cgroup directories (down to a few levels in every hierarchy) whose name mentions one of the ids. */
function cgroupsNaming(ids: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(d, e.name);
      if (ids.some((id) => e.name.includes(id))) out.push(p);
      if (depth < 6) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return out;
}

/** mountinfo lines of a process (the host's: this one) that mention one of the ids. */
function mountsNaming(pid: number | 'self', ids: string[]): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter((l) => ids.some((id) => l.includes(id)));
  } catch {
    return [];
  }
}

const shmLock = (u: User) => `/dev/shm/libpod_rootless_lock_${u.uid}`;

describe('rootless podman e2e (podman --runtime runa as a regular user)', { skip: missing ?? false }, () => {
  // A short path: rootless podman refuses a runroot ($XDG_RUNTIME_DIR/containers) over 50 characters, and
  // its exit command (`container cleanup`) failing on it leaves a foreground run waiting 20 s for conmon.
  const dir = fs.mkdtempSync('/tmp/rpr-');
  let u: User;
  let subLine = '';
  /** Every container id this test made: nothing may be left that names one. */
  const ids: string[] = [];

  /** The command as the user, with a clean environment (as a login would give it). */
  const asUser = (argv: string[]): [string, string[]] => ['setpriv', [
    '--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', 'env', '-i',
    `HOME=${u.home}`, `USER=${u.name}`, `LOGNAME=${u.name}`, `XDG_RUNTIME_DIR=${u.xdg}`, `PATH=${process.env.PATH}`, ...argv]];
  const podman = (args: string[], opts: CmdOpts = {}): Promise<CmdResult> => command(...asUser(['podman', ...GLOBAL, ...args]), opts);
  let runs = 0;
  /** `podman run --rm` in the foreground; its id is kept (--cidfile). */
  const run = async (args: string[], flags: string[] = []): Promise<CmdResult> => {
    const cidfile = path.join(u.xdg, `cid-${++runs}`);
    const r = await podman(['run', '--rm', '--cidfile', cidfile, ...RUN, ...flags, IMAGE, ...args]);
    try { ids.push(fs.readFileSync(cidfile, 'utf8').trim()); } catch { /* not created */ }
    return r;
  };
  /** `podman run -d --name NAME`; resolves with the full container id. */
  const detached = async (name: string, args: string[]): Promise<string> => {
    const r = await podman(['run', '-d', '--name', name, ...RUN, IMAGE, ...args]);
    assert.equal(r.code, 0, show(r));
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    ids.push(id);
    return id;
  };
  const inspect = async (name: string, format: string): Promise<string> => {
    const r = await podman(['inspect', '--format', format, name]);
    assert.equal(r.code, 0, show(r));
    return r.stdout.trim();
  };
  /** runa as podman runs it: uid 0 of podman's user namespace (`podman unshare`), no --root. */
  const runaInPodmanNs = (args: string[]): Promise<CmdResult> => podman(['unshare', runaBin, ...args]);
  const runaRoot = () => path.join(u.xdg, 'runa');
  const pausePid = (): number | null => {
    try { return Number(fs.readFileSync(path.join(u.xdg, 'libpod', 'tmp', 'pause.pid'), 'utf8')); } catch { return null; }
  };

  before(async () => {
    fs.chmodSync(dir, 0o755);
    const name = `rp${process.pid}`;
    const home = path.join(dir, 'home');
    const made = spawnSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', '-U', name], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout);
    const subStart = freeRange();
    subLine = `${name}:${subStart}:${RANGE}`;
    for (const f of ['/etc/subuid', '/etc/subgid']) fs.appendFileSync(f, `${subLine}\n`);
    const xdg = path.join(dir, 'xdg');
    fs.mkdirSync(xdg, { mode: 0o700 });
    fs.chownSync(xdg, uid, gid);
    u = { name, uid, gid, home, xdg, subStart };

    const image = path.join(dir, 'busybox.tar');
    writeBusyboxImage(image);
    fs.chmodSync(image, 0o644);
    const r = await podman(['load', '-i', image], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`Loaded image.*${IMAGE}`));
  });

  after(async () => {
    if (u) {
      await podman(['rm', '-a', '-f', '-t', '0']);
      await podman(['pod', 'rm', '-a', '-f', '-t', '0']);
      // The pause process keeps podman's user namespace; runa's daemon and anything else go too.
      for (let i = 0; i < 50 && processesOf(u).length; i++) {
        for (const p of processesOf(u)) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
        await new Promise((r) => setTimeout(r, 100));
      }
      spawnSync('userdel', [u.name], { stdio: 'ignore' });
      // podman's rootless locks (shared memory named after the uid, which a later user may get).
      fs.rmSync(shmLock(u), { force: true });
      for (const f of ['/etc/subuid', '/etc/subgid']) {
        const kept = fs.readFileSync(f, 'utf8').split('\n').filter((l) => l && l !== subLine);
        fs.writeFileSync(`${f}.runa-test`, kept.map((l) => `${l}\n`).join(''), { mode: 0o644 });
        fs.renameSync(`${f}.runa-test`, f);
      }
    }
    // The home holds the user's podman storage (files of its subordinate ids), xdg its runroot and runa's root.
    fs.rmSync(dir, { recursive: true, force: true });
    if (u) {
      assert.deepEqual(processesOf(u).map((p) => p.line), [], 'no process of the user left');
      assert.equal(spawnSync('id', [u.name]).status, 1, `user ${u.name} removed`);
      assert.equal(fs.existsSync(shmLock(u)), false);
      for (const f of ['/etc/subuid', '/etc/subgid']) assert.doesNotMatch(fs.readFileSync(f, 'utf8'), new RegExp(`^${u.name}:`, 'm'));
    }
    assert.equal(fs.existsSync(dir), false);
  });

  test('run --rm: output, root inside, exit status', async () => {
    let r = await run(['sh', '-c', 'echo hello; id -u; exit 3']);
    assert.equal(r.code, 3, show(r));
    assert.equal(r.stdout, 'hello\n0\n');
    if (!RUNTIME_IS_RUNA) return;
    // runa ran it: its state root is the user's, and its daemon the user's, in podman's user namespace.
    const daemon = Number(fs.readFileSync(path.join(runaRoot(), 'daemon.pid'), 'utf8'));
    assert.equal(fs.statSync(`/proc/${daemon}`).uid, u.uid, 'runa\'s daemon runs as the user');
    assert.equal(fs.readlinkSync(`/proc/${daemon}/ns/user`), fs.readlinkSync(`/proc/${pausePid()}/ns/user`), 'in podman\'s user namespace');
  });

  test('run -d, exec, stop and rm; runa\'s state in $XDG_RUNTIME_DIR/runa', async () => {
    const id = await detached('det', ['sleep', '7201']);
    assert.equal(await inspect('det', '{{.State.Status}}'), 'running');
    if (RUNTIME_IS_RUNA) {
      // runa as podman runs it finds the same root and daemon: the container, its init the one podman knows.
      const st = await runaInPodmanNs(['state', id]);
      assert.equal(st.code, 0, show(st));
      const state = JSON.parse(st.stdout);
      assert.equal(state.status, 'running');
      assert.equal(state.pid, Number(await inspect('det', '{{.State.Pid}}')));
      assert.ok(fs.existsSync(path.join(runaRoot(), id, 'state.json')), 'the container\'s state dir is in $XDG_RUNTIME_DIR/runa');
    }

    let r = await podman(['exec', 'det', 'sh', '-c', 'echo in; exit 5']);
    assert.equal(r.code, 5, show(r));
    assert.equal(r.stdout, 'in\n');
    r = await podman(['exec', '-u', '1000', '-w', '/tmp', '-e', 'FOO=bar', 'det', 'sh', '-c', 'id -u; pwd; echo $FOO']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '1000\n/tmp\nbar\n');

    // sleep as PID 1 ignores SIGTERM: stop waits -t seconds, then kills.
    const started = Date.now();
    r = await podman(['stop', '-t', '1', 'det']);
    assert.equal(r.code, 0, show(r));
    assert.ok(Date.now() - started >= 1000, 'stop waited for the timeout');
    assert.equal(await inspect('det', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
    r = await podman(['rm', 'det']);
    assert.equal(r.code, 0, show(r));
    if (RUNTIME_IS_RUNA) {
      assert.equal(fs.existsSync(path.join(runaRoot(), id)), false, 'runa\'s state dir removed');
      const st = await runaInPodmanNs(['state', id]);
      assert.equal(st.code, 1, show(st));
      assert.match(st.stderr, /container does not exist/);
    }
  });

  test('stop and kill: the container\'s own status, 137 for SIGKILL', async () => {
    await detached('trm', ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done']);
    let r = await podman(['stop', '-t', '10', 'trm']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('trm', '{{.State.ExitCode}}'), '42');
    await detached('kil', ['sleep', '7202']);
    r = await podman(['kill', 'kil']);
    assert.equal(r.code, 0, show(r));
    await until(async () => (await inspect('kil', '{{.State.Status}}')) === 'exited', 'kil to exit');
    assert.equal(await inspect('kil', '{{.State.ExitCode}}'), '137');
    r = await podman(['rm', 'trm', 'kil']);
    assert.equal(r.code, 0, show(r));
  });

  test('seccomp: podman\'s default profile, and unconfined', async () => {
    let r = await run(['grep', 'Seccomp:', '/proc/self/status']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    r = await run(['grep', 'Seccomp:', '/proc/self/status'], ['--security-opt', 'seccomp=unconfined']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Seccomp:\s+0$/m);
  });

  test('run -t and exec -t: a tty', async () => {
    let r = await inPty(...asUser(['podman', ...GLOBAL, 'run', '--rm', '-t', ...RUN, IMAGE, 'sh', '-c', 'tty; exit 4']), { timeoutMs: 20_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 4, show(r));
    await detached('tty', ['sleep', '7203']);
    r = await inPty(...asUser(['podman', ...GLOBAL, 'exec', '-t', 'tty', 'sh', '-c', 'tty; exit 6']), { timeoutMs: 20_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 6, show(r));
    r = await podman(['rm', '-f', '-t', '0', 'tty']);
    assert.equal(r.code, 0, show(r));
  });

  test('a user namespace of the container\'s own inside podman\'s: --userns keep-id, --uidmap', async () => {
    let r = await run(['sh', '-c', 'id -u; cat /proc/self/uid_map'], ['--userns', 'keep-id']);
    assert.equal(r.code, 0, show(r));
    const [uid, ...map] = r.stdout.trim().split('\n');
    assert.equal(uid, String(u.uid));
    assert.ok(map.length > 1, r.stdout);
    r = await run(['sh', '-c', 'id -u; cat /proc/self/uid_map'], ['--uidmap', '0:1:1000', '--gidmap', '0:1:1000']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')), ['0', '0 1 1000']);
  });

  test('pod: a member joins the infra container\'s namespaces and mounts its own mqueue and sysfs', async () => {
    let r = await podman(['pod', 'create', '--network', 'none', '--name', 'rpod'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    ids.push((await podman(['pod', 'inspect', '--format', '{{.InfraContainerID}}', 'rpod'])).stdout.trim());
    r = await podman(['run', '--rm', '--pod', 'rpod', IMAGE, 'sh', '-c', 'hostname; readlink /proc/1/ns/ipc; grep -E " /(dev/mqueue|sys) " /proc/self/mounts | cut -d" " -f1-3']);
    assert.equal(r.code, 0, show(r));
    const [hostname, ipc, ...mounts] = r.stdout.trim().split('\n');
    assert.equal(hostname, 'rpod');
    const infraPid = Number(await inspect(ids.at(-1)!, '{{.State.Pid}}'));
    assert.equal(ipc, fs.readlinkSync(`/proc/${infraPid}/ns/ipc`));
    assert.deepEqual(mounts.sort(), ['mqueue /dev/mqueue mqueue', 'sysfs /sys sysfs']);
    r = await podman(['pod', 'rm', '-f', '-t', '0', 'rpod'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
  });

  test('nothing left: containers, runa\'s state and daemon, processes, cgroups, mounts', async () => {
    assert.ok(ids.length >= 8 && ids.every((id) => /^[0-9a-f]{64}$/.test(id)), `the tests above made containers: ${ids}`);
    const r = await podman(['ps', '-a', '-q']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '');
    assert.deepEqual(stateDirs(runaRoot()), []);
    // runa's daemon leaves once idle: then only podman's pause process is the user's.
    const pause = pausePid();
    assert.ok(pause, 'podman\'s pause process');
    const others = () => processesOf(u).filter((p) => p.pid !== pause).map((p) => p.line);
    await until(() => others().length === 0, 'the user\'s processes but the pause process to exit').catch(() => undefined);
    assert.deepEqual(others(), []);
    assert.deepEqual(cgroupsNaming(ids), []);
    assert.deepEqual(mountsNaming('self', ids), []);
    assert.deepEqual(mountsNaming(pause!, ids), [], 'none in podman\'s mount namespace either');
  });
});
