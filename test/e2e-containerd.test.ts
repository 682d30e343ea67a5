// End to end under containerd: a private containerd drives the runtime through its runc shim
// (`ctr run --runtime io.containerd.runc.v2 --runc-binary <runa>`), on an image built from the
// host's busybox-static.
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Containerd, cgroupDirs, cgroupFileOf, inPty, mountsMentioning, namespacesOf, namespacesWritten, nothingLeft, nsScript, pidOf, processes, show, type CmdResult } from './helpers/callers.js';
import { IMAGE, busyboxMissing, writeBusyboxImage } from './helpers/oci-image.js';
import { runaBin, until } from './helpers/runa.js';
import { execFileSync } from 'node:child_process';

const missing = process.getuid?.() !== 0 ? 'needs root' : Containerd.missing() ?? busyboxMissing();

describe('containerd e2e', { skip: missing ?? false }, () => {
  let c: Containerd;
  let tornDown = false;

  before(async () => {
    c = new Containerd();
    await c.start();
    const image = path.join(c.dir, 'busybox.tar');
    writeBusyboxImage(image);
    const r = await c.ctr(['images', 'import', image], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
  });

  after(async () => {
    if (c && !tornDown) await c.teardown();
  });

  /** `ctr run --rm` in the foreground. */
  const run = (id: string, args: string[], flags: string[] = [], timeoutMs?: number): Promise<CmdResult> =>
    c.ctr(['run', '--rm', ...c.runFlags(), ...flags, IMAGE, id, ...args], { timeoutMs });

  /** `ctr run -d`, removed after the test; resolves with the task's PID. */
  const detached = async (t: TestContext, id: string, args: string[], flags: string[] = []): Promise<number> => {
    t.after(() => c.remove(id));
    const r = await c.ctr(['run', '-d', ...c.runFlags(), ...flags, IMAGE, id, ...args]);
    assert.equal(r.code, 0, show(r));
    assert.ok(!r.timedOut, show(r));
    const task = await until(async () => (await c.tasks()).get(id), `task ${id}`);
    return task!.pid;
  };

  test('run: output and exit status', async () => {
    const r = await run('run1', ['sh', '-c', 'echo hello; id -u; exit 3']);
    assert.equal(r.code, 3, show(r));
    assert.equal(r.stdout, 'hello\n0\n');
  });

  test('run -t: a tty', async (t) => {
    // A runtime that keeps the shim's pipes open hangs the shim's create: clean up even then.
    t.after(() => c.forceRemove('tty1'));
    const [cmd, args] = c.argv(['run', '--rm', '-t', ...c.runFlags(), IMAGE, 'tty1', 'sh', '-c', 'tty; exit 4']);
    const r = await inPty(cmd, args, { timeoutMs: 15_000 });
    assert.ok(!r.timedOut, show(r));
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 4, show(r));
  });

  test('run -d: detached', async (t) => {
    const pid = await detached(t, 'det1', ['sleep', '7001']);
    assert.equal((await c.tasks()).get('det1')?.status, 'RUNNING');
    assert.ok(fs.existsSync(`/proc/${pid}`));
    assert.ok(pidOf('sleep 7001') > 0, 'the container process runs');
  });

  test('exec: short, back to back', async (t) => {
    await detached(t, 'exs', ['sleep', '7002']);
    for (let i = 0; i < 15; i++) {
      const r = await c.exec('exs', ['echo', `n${i}`], [], { timeoutMs: 10_000 });
      assert.equal(r.code, 0, `exec ${i}: ${show(r)}`);
      assert.equal(r.stdout, `n${i}\n`);
    }
  });

  test('exec: long, with status', async (t) => {
    await detached(t, 'exl', ['sleep', '7003']);
    const r = await c.exec('exl', ['sh', '-c', 'sleep 2; echo done; exit 5']);
    assert.equal(r.code, 5, show(r));
    assert.equal(r.stdout, 'done\n');
  });

  test('exec -t: a tty', async (t) => {
    await detached(t, 'ext', ['sleep', '7004']);
    const [cmd, args] = c.argv(['task', 'exec', '-t', '--fifo-dir', path.join(c.dir, 'fifo'), '--exec-id', 'tty', 'ext', 'sh', '-c', 'tty; exit 6']);
    const r = await inPty(cmd, args, { timeoutMs: 15_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 6, show(r));
  });

  test('exec --user --cwd', async (t) => {
    await detached(t, 'exu', ['sleep', '7005']);
    const r = await c.exec('exu', ['sh', '-c', 'id -u; id -g; pwd'], ['--user', '1000', '--cwd', '/tmp']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '1000\n1000\n/tmp\n');
  });

  test('kill: TERM then KILL', async () => {
    const dir = fs.mkdtempSync(path.join(c.dir, 'kill-'));
    const mount = ['--mount', `type=bind,src=${dir},dst=/k,options=rbind:rw`];
    const script = 'trap "exit 42" TERM; touch /k/ready; while :; do sleep 0.1; done';
    const term = run('kill1', ['sh', '-c', script], mount);
    await until(() => fs.existsSync(path.join(dir, 'ready')), 'kill1 ready');
    let r = await c.ctr(['task', 'kill', 'kill1']);
    assert.equal(r.code, 0, show(r));
    r = await term;
    assert.equal(r.code, 42, show(r));

    fs.rmSync(path.join(dir, 'ready'));
    const kill = run('kill2', ['sh', '-c', 'trap "" TERM; touch /k/ready; while :; do sleep 0.1; done'], mount);
    await until(() => fs.existsSync(path.join(dir, 'ready')), 'kill2 ready');
    r = await c.ctr(['task', 'kill', '-s', 'SIGKILL', 'kill2']);
    assert.equal(r.code, 0, show(r));
    r = await kill;
    assert.equal(r.code, 137, show(r));
  });

  test('pause and resume', async (t) => {
    await detached(t, 'pau', ['sleep', '7006']);
    const sleeper = pidOf('sleep 7006');
    const frozen = (): string => cgroupFileOf(sleeper, 'freezer', 'freezer.state', 'cgroup.freeze');
    let r = await c.ctr(['task', 'pause', 'pau']);
    assert.equal(r.code, 0, show(r));
    assert.equal((await c.tasks()).get('pau')?.status, 'PAUSED');
    assert.match(frozen(), /^(FROZEN|1)$/);
    r = await c.ctr(['task', 'resume', 'pau']);
    assert.equal(r.code, 0, show(r));
    assert.equal((await c.tasks()).get('pau')?.status, 'RUNNING');
    assert.match(frozen(), /^(THAWED|0)$/);
  });

  test('a pod through the CRI annotations: the member joins the sandbox, and dies with it', async (t) => {
    const cri = (type: string) => ['--annotation', `io.kubernetes.cri.container-type=${type}`, '--annotation', 'io.kubernetes.cri.sandbox-id=cpod'];
    const root = await detached(t, 'cpod', ['sleep', '7020'], cri('sandbox'));
    const member = await detached(t, 'cpod-a', ['sleep', '7021'], cri('container'));
    assert.deepEqual(namespacesOf(member, ['net', 'ipc', 'uts']), namespacesOf(root, ['net', 'ipc', 'uts']));
    assert.notDeepEqual(namespacesOf(member, ['pid']), namespacesOf(root, ['pid']), 'ctr asks for a pid namespace of its own');
    if (!process.env.RUNA_E2E_RUNTIME) {
      const st = JSON.parse(execFileSync(runaBin, ['--root', c.runtimeRoot, 'state', 'cpod-a'], { encoding: 'utf8' }));
      assert.equal(st.annotations['io.kubernetes.cri.sandbox-id'], 'cpod', 'the config\'s annotations, and only those');
      assert.equal(st.annotations['dev.runa.sandbox-id'], undefined);
      const row = execFileSync(runaBin, ['--root', c.runtimeRoot, 'list'], { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('cpod-a '));
      assert.match(row ?? '', /\scpod$/, 'list names its sandbox');
      // Killing the sandbox's root takes its member down (runc would leave it running).
      const r = await c.ctr(['task', 'kill', '-s', 'KILL', 'cpod']);
      assert.equal(r.code, 0, show(r));
      await until(async () => (await c.tasks()).get('cpod-a')?.status === 'STOPPED', 'the member stopped with its sandbox');
    }
  });

  test('task ps', async (t) => {
    await detached(t, 'tps', ['sh', '-c', 'sleep 7007 & sleep 7008; wait']);
    await until(() => pidOf('sleep 7007') > 0 && pidOf('sleep 7008') > 0, 'both sleeps');
    const r = await c.ctr(['task', 'ps', 'tps']);
    assert.equal(r.code, 0, show(r));
    const pids = r.stdout.trim().split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
    assert.ok(pids.includes(pidOf('sleep 7007')) && pids.includes(pidOf('sleep 7008')), `${r.stdout} lacks the sleeps`);
  });

  test('task pid: in the container\'s namespaces', async (t) => {
    const dir = fs.mkdtempSync(path.join(c.dir, 'ns-'));
    const pid = await detached(t, 'nsp', ['sh', '-c', `(${nsScript()}) > /out/ns; sleep 7009`], ['--mount', `type=bind,src=${dir},dst=/out,options=rbind:rw`]);
    const inside = await namespacesWritten(path.join(dir, 'ns'));
    assert.deepEqual(namespacesOf(pid), inside);
  });

  test('task metrics', async (t) => {
    await detached(t, 'met', ['sleep', '7010']);
    const r = await c.ctr(['task', 'metrics', '--format', 'json', 'met']);
    assert.equal(r.code, 0, show(r));
    const m = JSON.parse(r.stdout);
    assert.ok(m.pids.current >= 1, r.stdout);
    assert.ok(m.memory && (m.memory.usage?.usage > 0 || m.memory.usage > 0), r.stdout);
    assert.ok(m.cpu, r.stdout);
  });

  test('memory limit', async (t) => {
    await detached(t, 'mem', ['sleep', '7011'], ['--memory-limit', String(64 << 20)]);
    assert.equal(cgroupFileOf(pidOf('sleep 7011'), 'memory', 'memory.limit_in_bytes', 'memory.max'), String(64 << 20));
  });

  test('env, workdir, read-only rootfs', async () => {
    const r = await run('env1', ['sh', '-c', 'echo $FOO; echo $PATH; pwd; touch /x 2>&1; echo $?'], ['--env', 'FOO=bar', '--cwd', '/tmp', '--read-only']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'bar\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp\ntouch: /x: Read-only file system\n1\n');
  });

  test('bind mount: directories', async () => {
    const ro = fs.mkdtempSync(path.join(c.dir, 'ro-'));
    const rw = fs.mkdtempSync(path.join(c.dir, 'rw-'));
    fs.writeFileSync(path.join(ro, 'hello'), 'from the host\n');
    const r = await run('bdir', ['sh', '-c', 'cat /data/hello; touch /data/x 2>&1; echo written > /out/f'],
      ['--mount', `type=bind,src=${ro},dst=/data,options=rbind:ro`, '--mount', `type=bind,src=${rw},dst=/out,options=rbind:rw`]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'from the host\ntouch: /data/x: Read-only file system\n');
    assert.equal(fs.readFileSync(path.join(rw, 'f'), 'utf8'), 'written\n');
  });

  test('bind mount: a file', async () => {
    const file = path.join(c.dir, 'motd');
    fs.writeFileSync(file, 'a file from the host\n');
    const r = await run('bfile', ['cat', '/etc/motd'], ['--mount', `type=bind,src=${file},dst=/etc/motd,options=rbind:ro`]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'a file from the host\n');
  });

  test('seccomp: containerd\'s default profile', async () => {
    const r = await run('sec1', ['sh', '-c', 'grep Seccomp: /proc/self/status'], ['--seccomp']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
  });

  test('--rm leaves nothing', async () => {
    // From a cold start: this container's runa create starts runa's daemon, under the shim.
    await c.stopRuntimeDaemon();
    const r = await run('gone1', ['true']);
    assert.equal(r.code, 0, show(r));
    const left = async () => [
      ...(await c.ctr(['container', 'ls', '-q'])).stdout.split('\n').filter((l) => l === 'gone1'),
      ...processes((cmd) => cmd.includes(c.sock) && / -id gone1\b/.test(cmd)),
      ...cgroupDirs(`/${c.namespace}/gone1`),
      ...mountsMentioning('/gone1/'),
      ...[path.join(c.runtimeRoot, 'gone1')].filter((d) => fs.existsSync(d)),
    ];
    await until(async () => (await left()).length === 0, 'gone1 to be gone', 5000).catch(() => {});
    assert.deepEqual(await left(), []);
  });

  test('20 containers at once', async () => {
    // Each leaves a file rather than output: ctr itself can drop a short container's output under load.
    const dir = fs.mkdtempSync(path.join(c.dir, 'many-'));
    const ids = Array.from({ length: 20 }, (_, i) => `many${i}`);
    const results = await Promise.all(ids.map((id) =>
      run(id, ['sh', '-c', `echo ${id} > /out/${id}`], ['--mount', `type=bind,src=${dir},dst=/out,options=rbind:rw`], 120_000)));
    results.forEach((r, i) => assert.equal(r.code, 0, `${ids[i]}: ${show(r)}`));
    assert.deepEqual(fs.readdirSync(dir).sort(), [...ids].sort());
  });

  test('teardown leaves nothing', async () => {
    tornDown = true;
    const left = await c.teardown();
    assert.ok(nothingLeft(left), JSON.stringify(left, null, 1));
  });
});
