// End to end under podman: a private podman (vfs storage, cgroupfs, no network) drives the
// runtime through conmon (`podman --runtime <runa>`), on an image built from the host's
// busybox-static.
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  Podman, cgroupDirs, cgroupFileOf, cgroupReadScript, inPty, mountsMentioning, namespacesOf, namespacesWritten, nothingLeft,
  nsScript, parseNs, pidOf, processes, show, type CmdResult,
} from './helpers/callers.js';
import { IMAGE, busyboxMissing, writeBusyboxImage } from './helpers/oci-image.js';
import { runaBin, until } from './helpers/runa.js';
import { execFileSync } from 'node:child_process';

const RUNTIME_IS_RUNA = !process.env.RUNA_E2E_RUNTIME;
/** runa's state of a podman container (podman gives the runtime no --root: the default one); null once gone. */
async function runaState(id: string): Promise<any> {
  try { return JSON.parse(execFileSync(runaBin, ['state', id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })); } catch { return null; }
}

const missing = process.getuid?.() !== 0 ? 'needs root' : Podman.missing() ?? busyboxMissing();

/** Rlimits this machine's hard limits allow (podman's defaults are higher). */
const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
/** What every container gets: no network. A pod's containers take the infra container's instead. */
const RUN = ['--network', 'none', ...ULIMITS];

/** podman exec's exec dir makes monitor.sock's path too long for a unix socket. */

describe('podman e2e', { skip: missing ?? false }, () => {
  let p: Podman;
  let tornDown = false;

  before(async () => {
    p = new Podman();
    const image = path.join(p.dir, 'busybox.tar');
    writeBusyboxImage(image);
    const r = await p.podman(['load', '-i', image], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`Loaded image.*${IMAGE}`));
  });

  after(async () => {
    if (p && !tornDown) await p.teardown();
  });

  /** `podman run --rm` in the foreground. */
  const run = (args: string[], flags: string[] = [], timeoutMs?: number, base = RUN): Promise<CmdResult> =>
    p.podman(['run', '--rm', ...base, ...flags, IMAGE, ...args], { timeoutMs });

  /** `podman run -d --name NAME`, removed after the test; resolves with the full container ID. */
  const detached = async (t: TestContext, name: string, args: string[], flags: string[] = []): Promise<string> => {
    t.after(() => p.podman(['rm', '-f', '-t', '0', name]));
    const r = await p.podman(['run', '-d', '--name', name, ...RUN, ...flags, IMAGE, ...args]);
    assert.equal(r.code, 0, show(r));
    return r.stdout.trim();
  };

  const inspect = async (name: string, format: string): Promise<string> => {
    const r = await p.podman(['inspect', '--format', format, name]);
    assert.equal(r.code, 0, show(r));
    return r.stdout.trim();
  };

  test('run: output and exit status', async () => {
    const r = await run(['sh', '-c', 'echo hello; id -u; exit 3']);
    assert.equal(r.code, 3, show(r));
    assert.equal(r.stdout, 'hello\n0\n');
  });

  test('run -t: a tty', async () => {
    const [cmd, args] = p.argv(['run', '--rm', '-t', ...RUN, IMAGE, 'sh', '-c', 'tty; exit 4']);
    const r = await inPty(cmd, args, { timeoutMs: 20_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 4, show(r));
  });

  test('run -d: detached, output closed on return', async (t) => {
    // command() reads podman's output to EOF: a runtime holding it open would time out here.
    const id = await detached(t, 'det1', ['sleep', '7101']);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(await inspect('det1', '{{.State.Status}}'), 'running');
  });

  test('exec: short, back to back', async (t) => {
    await detached(t, 'exs', ['sleep', '7102']);
    for (let i = 0; i < 10; i++) {
      const r = await p.podman(['exec', 'exs', 'echo', `n${i}`], { timeoutMs: 10_000 });
      assert.equal(r.code, 0, `exec ${i}: ${show(r)}`);
      assert.equal(r.stdout, `n${i}\n`);
    }
  });

  test('exec: long, with status', async (t) => {
    await detached(t, 'exl', ['sleep', '7103']);
    const r = await p.podman(['exec', 'exl', 'sh', '-c', 'sleep 2; echo done; exit 5']);
    assert.equal(r.code, 5, show(r));
    assert.equal(r.stdout, 'done\n');
  });

  test('exec -t: a tty', async (t) => {
    await detached(t, 'ext', ['sleep', '7104']);
    const [cmd, args] = p.argv(['exec', '-t', 'ext', 'sh', '-c', 'tty; exit 6']);
    const r = await inPty(cmd, args, { timeoutMs: 20_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 6, show(r));
  });

  test('exec -u -w -e', async (t) => {
    await detached(t, 'exu', ['sleep', '7105']);
    const r = await p.podman(['exec', '-u', '1000', '-w', '/tmp', '-e', 'FOO=bar', 'exu', 'sh', '-c', 'id -u; id -g; pwd; echo $FOO']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '1000\n1000\n/tmp\nbar\n');
  });

  test('kill and stop -t', async (t) => {
    await detached(t, 'kil', ['sleep', '7106']);
    let r = await p.podman(['kill', 'kil']);
    assert.equal(r.code, 0, show(r));
    await until(async () => (await inspect('kil', '{{.State.Status}}')) === 'exited', 'kil to exit');
    assert.equal(await inspect('kil', '{{.State.ExitCode}}'), '137');

    // sleep as PID 1 ignores SIGTERM: stop waits -t seconds, then kills.
    await detached(t, 'stp', ['sleep', '7107']);
    const started = Date.now();
    r = await p.podman(['stop', '-t', '1', 'stp']);
    assert.equal(r.code, 0, show(r));
    assert.ok(Date.now() - started >= 1000, 'stop waited for the timeout');
    assert.equal(await inspect('stp', '{{.State.Status}}'), 'exited');
    assert.equal(await inspect('stp', '{{.State.ExitCode}}'), '137');

    // A container that handles SIGTERM stops at once with its own status.
    await detached(t, 'trm', ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done']);
    r = await p.podman(['stop', '-t', '10', 'trm']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('trm', '{{.State.ExitCode}}'), '42');
  });

  test('pause and unpause', async (t) => {
    await detached(t, 'pau', ['sleep', '7108']);
    let r = await p.podman(['pause', 'pau']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('pau', '{{.State.Status}}'), 'paused');
    r = await p.podman(['unpause', 'pau']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('pau', '{{.State.Status}}'), 'running');
  });

  test('top', async (t) => {
    await detached(t, 'top', ['sh', '-c', 'sleep 7109 & wait']);
    const r = await p.podman(['top', 'top', 'pid', 'args']);
    assert.equal(r.code, 0, show(r));
    const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.trim().replace(/\s+/g, ' '));
    assert.deepEqual(rows.sort(), ['1 sh -c sleep 7109 & wait', `${rows.find((l) => l.endsWith('sleep 7109'))?.split(' ')[0]} sleep 7109`].sort(), r.stdout);
  });

  test('stats --no-stream', async (t) => {
    await detached(t, 'sta', ['sleep', '7110']);
    const r = await p.podman(['stats', '--no-stream', '--format', 'json', 'sta']);
    assert.equal(r.code, 0, show(r));
    const [s] = JSON.parse(r.stdout);
    assert.equal(s.name, 'sta');
    assert.ok(Number(s.pids) >= 1, r.stdout);
    assert.match(s.mem_usage, /^[\d.]+[kMG]?B \/ /, r.stdout);
  });

  test('container pid: in the container\'s namespaces', async (t) => {
    const dir = fs.mkdtempSync(path.join(p.dir, 'ns-'));
    await detached(t, 'nsp', ['sh', '-c', `(${nsScript()}) > /out/ns; sleep 7111`], ['-v', `${dir}:/out`]);
    const inside = await namespacesWritten(path.join(dir, 'ns'));
    const pid = Number(await inspect('nsp', '{{.State.Pid}}'));
    assert.deepEqual(namespacesOf(pid), inside);
  });

  test('memory and pids limits: the container\'s cgroup', async (t) => {
    await detached(t, 'lim', ['sleep', '7112'], ['--memory', '64m', '--pids-limit', '50']);
    const pid = pidOf('sleep 7112');
    assert.equal(cgroupFileOf(pid, 'memory', 'memory.limit_in_bytes', 'memory.max'), String(64 << 20));
    assert.equal(cgroupFileOf(pid, 'pids', 'pids.max', 'pids.max'), '50');
  });

  test('memory and pids limits: seen from inside', async () => {
    const r = await run(['sh', '-c', `${cgroupReadScript('memory', 'memory.limit_in_bytes', 'memory.max')}; ${cgroupReadScript('pids', 'pids.max', 'pids.max')}`],
      ['--memory', '64m', '--pids-limit', '50']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `${64 << 20}\n50\n`);
  });

  test('env, user, workdir', async () => {
    const r = await run(['sh', '-c', 'echo $FOO; id -u; id -g; pwd'], ['-e', 'FOO=bar', '-u', '1000:1000', '-w', '/home/user']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'bar\n1000\n1000\n/home/user\n');
  });

  test('read-only rootfs', async () => {
    const r = await run(['sh', '-c', 'touch /x 2>&1; echo $?; touch /tmp/x && echo tmp-writable'], ['--read-only']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'touch: /x: Read-only file system\n1\ntmp-writable\n');
  });

  test('seccomp: podman\'s default profile', async () => {
    const r = await run(['sh', '-c', 'grep Seccomp: /proc/self/status']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
  });

  test('bind mounts: a directory and a file', async () => {
    const dir = fs.mkdtempSync(path.join(p.dir, 'bind-'));
    fs.writeFileSync(path.join(dir, 'hello'), 'from the host\n');
    const file = path.join(p.dir, 'motd');
    fs.writeFileSync(file, 'a file from the host\n');
    const r = await run(['sh', '-c', 'cat /data/hello /etc/motd; echo written > /data/out; touch /ro/x 2>&1'],
      ['-v', `${dir}:/data`, '-v', `${file}:/etc/motd:ro`, '-v', `${dir}:/ro:ro`]);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, 'from the host\na file from the host\ntouch: /ro/x: Read-only file system\n');
    assert.equal(fs.readFileSync(path.join(dir, 'out'), 'utf8'), 'written\n');
  });

  test('named volume', async () => {
    let r = await p.podman(['volume', 'create', 'vol1']);
    assert.equal(r.code, 0, show(r));
    r = await run(['sh', '-c', 'echo kept > /v/f'], ['-v', 'vol1:/v']);
    assert.equal(r.code, 0, show(r));
    r = await run(['cat', '/v/f'], ['-v', 'vol1:/v']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'kept\n');
  });

  test('--rm leaves nothing', async () => {
    // From a cold start: this container's runa create starts runa's daemon, under conmon.
    await p.stopRuntimeDaemon();
    const cidfile = path.join(p.dir, 'gone.cid');
    const r = await run(['true'], ['--cidfile', cidfile]);
    assert.equal(r.code, 0, show(r));
    const id = fs.readFileSync(cidfile, 'utf8').trim();
    const left = async () => [
      ...(await p.podman(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter((l) => l === id),
      ...processes((cmd) => cmd.includes(id)),
      ...cgroupDirs(`/libpod_parent/libpod-${id}`),
      ...mountsMentioning(id),
      ...[path.join(p.runtimeRoot, id)].filter((d) => fs.existsSync(d)),
    ];
    await until(async () => (await left()).length === 0, 'the container to be gone', 5000).catch(() => {});
    assert.deepEqual(await left(), []);
  });

  test('pod: containers share the infra container\'s namespaces', async (t) => {
    t.after(() => p.podman(['pod', 'rm', '-f', '-t', '0', 'pod1']));
    let r = await p.podman(['pod', 'create', '--network', 'none', '--name', 'pod1'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    const shared = ['net', 'uts', 'ipc'];
    const a = await run(['sh', '-c', nsScript(shared)], ['--pod', 'pod1'], undefined, ULIMITS);
    const b = await run(['sh', '-c', `${nsScript(shared)}; hostname`], ['--pod', 'pod1'], undefined, ULIMITS);
    assert.equal(a.code, 0, show(a));
    assert.equal(b.code, 0, show(b));
    assert.deepEqual(parseNs(a.stdout), parseNs(b.stdout));
    assert.equal(b.stdout.trim().split('\n').at(-1), 'pod1');
    r = await p.podman(['pod', 'inspect', '--format', '{{.InfraContainerID}}', 'pod1']);
    const infraPid = Number(await inspect(r.stdout.trim(), '{{.State.Pid}}'));
    assert.deepEqual(namespacesOf(infraPid, shared), parseNs(a.stdout));
  });

  test('pod: runa keeps it as a sandbox; pod pause, unpause, stop, start and rm', async (t) => {
    t.after(() => p.podman(['pod', 'rm', '-f', '-t', '0', 'pod2']));
    let r = await p.podman(['pod', 'create', '--network', 'none', '--name', 'pod2'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    const members = [];
    for (const name of ['pod2-a', 'pod2-b']) {
      r = await p.podman(['run', '-d', '--name', name, '--pod', 'pod2', ...ULIMITS, IMAGE, 'sleep', '1000']);
      assert.equal(r.code, 0, show(r));
      members.push(r.stdout.trim());
    }
    const infra = (await p.podman(['pod', 'inspect', '--format', '{{.InfraContainerID}}', 'pod2'])).stdout.trim();
    if (RUNTIME_IS_RUNA) {
      // podman's CRI-O annotations make the infra container the sandbox's root.
      const table = execFileSync(runaBin, ['list'], { encoding: 'utf8' }).split('\n');
      for (const id of [infra, ...members]) {
        assert.match(table.find((l) => l.startsWith(`${id} `)) ?? '', new RegExp(`\\s${infra}$`), `${id} in the pod's sandbox`);
      }
    }
    const states = async () => Promise.all(['pod2-a', 'pod2-b'].map((n) => inspect(n, '{{.State.Status}}')));
    // podman pauses (and resumes) every container of the pod, the infra one included, in parallel:
    // the sandbox pausing its members first must not make podman's own pause of them fail.
    r = await p.podman(['pod', 'pause', 'pod2']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(await states(), ['paused', 'paused']);
    r = await p.podman(['pod', 'unpause', 'pod2']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(await states(), ['running', 'running']);
    r = await p.podman(['pod', 'stop', '-t', '1', 'pod2'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(await states(), ['exited', 'exited']);
    r = await p.podman(['pod', 'start', 'pod2'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(await states(), ['running', 'running']);
    r = await p.podman(['pod', 'rm', '-f', '-t', '0', 'pod2'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    if (RUNTIME_IS_RUNA) for (const id of [infra, ...members]) assert.equal(await runaState(id), null, `${id} gone from runa`);
  });

  test('20 containers at once', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => run(['echo', `c${i}`], [], 120_000)));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `c${i}: ${show(r)}`);
      assert.equal(r.stdout, `c${i}\n`);
    });
  });

  test('teardown leaves nothing', async () => {
    tornDown = true;
    const left = await p.teardown();
    assert.ok(nothingLeft(left), JSON.stringify(left, null, 1));
  });
});
