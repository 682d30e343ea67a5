// End to end under Docker: a private dockerd (its own data root, exec root, socket and
// containerd; no bridge, no iptables, in a network namespace of the test's) with the runtime
// under test registered as `--add-runtime runa=<path> --default-runtime runa`, on a busybox image
// loaded offline (`docker load` of a docker-archive built from the host's busybox-static).
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  RUNTIME, cgroupDirs, cgroupFileOf, cgroupReadScript, inPty, mountsMentioning, namespacesOf, namespacesWritten, nothingLeft, nsScript,
  pidOf, processes, show, which, type CmdResult,
} from './helpers/callers.js';
import { DOCKER_CGROUP_PARENT, Docker, dockerMissing } from './helpers/docker.js';
import { IMAGE, busyboxMissing, writeBusyboxDockerArchive } from './helpers/oci-image.js';
import { runaBin, until } from './helpers/runa.js';

const RUNTIME_IS_RUNA = RUNTIME === runaBin;
const missing = process.getuid?.() !== 0 ? 'needs root' : dockerMissing() ?? busyboxMissing();
if (missing) console.log(`# Docker e2e skipped: ${missing}`);

/** Every container gets no network unless a case says otherwise (dockerd has no bridge). */
const RUN = ['--network', 'none'];

/** The capabilities this process (and so dockerd) has, as a CapEff mask. */
const ownCaps = (): bigint => BigInt(`0x${/CapEff:\s+(\w+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`);
const CAP_SYS_RESOURCE = 24n;

describe('Docker e2e', { skip: missing ?? false }, () => {
  let d: Docker;
  let tornDown = false;

  before(async () => {
    d = new Docker();
    await d.start();
    const image = path.join(d.dir, 'busybox.tar');
    writeBusyboxDockerArchive(image);
    const r = await d.docker(['load', '-i', image], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`Loaded image: ${IMAGE}`));
    const info = await d.docker(['info', '--format', '{{.DefaultRuntime}} {{.Driver}} {{.CgroupDriver}}']);
    assert.equal(info.stdout.trim(), 'runa vfs cgroupfs', show(info));
  });

  after(async () => {
    if (d && !tornDown) await d.teardown();
  });

  /** `docker run --rm` in the foreground. */
  const run = (args: string[], flags: string[] = [], timeoutMs?: number): Promise<CmdResult> =>
    d.docker(['run', '--rm', ...RUN, ...flags, IMAGE, ...args], { timeoutMs });

  /** `docker run -d --name NAME`, removed after the test; resolves with the full container ID. */
  const detached = async (t: TestContext, name: string, args: string[], flags: string[] = [], base = RUN): Promise<string> => {
    t.after(() => d.docker(['rm', '-f', name], { timeoutMs: 30_000 }));
    const r = await d.docker(['run', '-d', '--name', name, ...base, ...flags, IMAGE, ...args]);
    assert.equal(r.code, 0, show(r));
    return r.stdout.trim();
  };

  const inspect = async (name: string, format: string): Promise<string> => {
    const r = await d.docker(['inspect', '--format', format, name]);
    assert.equal(r.code, 0, show(r));
    return r.stdout.trim();
  };

  test('run: output and exit status', async () => {
    const r = await run(['sh', '-c', 'echo hello; echo err >&2; id -u; exit 3']);
    assert.equal(r.code, 3, show(r));
    assert.equal(r.stdout, 'hello\n0\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('run -it: a tty', async () => {
    const [cmd, args] = d.argv(['run', '--rm', '-it', ...RUN, IMAGE, 'sh', '-c', 'tty; exit 4']);
    const r = await inPty(cmd, args, { timeoutMs: 30_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 4, show(r));
  });

  test('run -d: detached, through the runtime under test', async (t) => {
    const id = await detached(t, 'det1', ['sleep', '7501']);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(await inspect('det1', '{{.State.Status}} {{.HostConfig.Runtime}}'), 'running runa');
    if (RUNTIME_IS_RUNA) {
      const st = JSON.parse(execFileSync(runaBin, ['--root', d.runtimeRoot, 'state', id], { encoding: 'utf8' }));
      assert.equal(st.status, 'running');
      assert.equal(st.pid, Number(await inspect('det1', '{{.State.Pid}}')));
    }
  });

  test('exec: short, back to back', async (t) => {
    await detached(t, 'exs', ['sleep', '7502']);
    for (let i = 0; i < 10; i++) {
      const r = await d.docker(['exec', 'exs', 'echo', `n${i}`], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, `exec ${i}: ${show(r)}`);
      assert.equal(r.stdout, `n${i}\n`);
    }
  });

  test('exec: long, with status', async (t) => {
    await detached(t, 'exl', ['sleep', '7503']);
    const r = await d.docker(['exec', 'exl', 'sh', '-c', 'sleep 2; echo done; exit 5']);
    assert.equal(r.code, 5, show(r));
    assert.equal(r.stdout, 'done\n');
  });

  test('exec -it: a tty', async (t) => {
    await detached(t, 'ext', ['sleep', '7504']);
    const [cmd, args] = d.argv(['exec', '-it', 'ext', 'sh', '-c', 'tty; exit 6']);
    const r = await inPty(cmd, args, { timeoutMs: 30_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
    assert.equal(r.code, 6, show(r));
  });

  test('exec -u -w -e', async (t) => {
    await detached(t, 'exu', ['sleep', '7505']);
    const r = await d.docker(['exec', '-u', '1000', '-w', '/tmp', '-e', 'FOO=bar', 'exu', 'sh', '-c', 'id -u; id -g; pwd; echo $FOO']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '1000\n1000\n/tmp\nbar\n');
  });

  test('kill and stop -t', async (t) => {
    await detached(t, 'kil', ['sleep', '7506']);
    let r = await d.docker(['kill', 'kil']);
    assert.equal(r.code, 0, show(r));
    await until(async () => (await inspect('kil', '{{.State.Status}}')) === 'exited', 'kil to exit');
    assert.equal(await inspect('kil', '{{.State.ExitCode}}'), '137');

    // sleep as PID 1 ignores SIGTERM: stop waits -t seconds, then kills.
    await detached(t, 'stp', ['sleep', '7507']);
    const started = Date.now();
    r = await d.docker(['stop', '-t', '1', 'stp']);
    assert.equal(r.code, 0, show(r));
    assert.ok(Date.now() - started >= 1000, 'stop waited for the timeout');
    assert.equal(await inspect('stp', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');

    // A container that handles SIGTERM stops at once with its own status.
    await detached(t, 'trm', ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done']);
    r = await d.docker(['stop', '-t', '10', 'trm']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('trm', '{{.State.ExitCode}}'), '42');
  });

  test('pause and unpause', async (t) => {
    await detached(t, 'pau', ['sleep', '7508']);
    let r = await d.docker(['pause', 'pau']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('pau', '{{.State.Status}}'), 'paused');
    assert.match(cgroupFileOf(pidOf('sleep 7508'), 'freezer', 'freezer.state', 'cgroup.freeze'), /^(FROZEN|1)$/);
    r = await d.docker(['unpause', 'pau']);
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('pau', '{{.State.Status}}'), 'running');
  });

  test('top', async (t) => {
    await detached(t, 'top', ['sh', '-c', 'sleep 7509 & wait']);
    await until(() => pidOf('sleep 7509') > 0, 'the sleep');
    const r = await d.docker(['top', 'top', '-o', 'pid,args']);
    assert.equal(r.code, 0, show(r));
    const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.trim().replace(/\s+/g, ' '));
    assert.ok(rows.includes(`${pidOf('sleep 7509')} sleep 7509`), r.stdout);
    assert.ok(rows.some((l) => l.endsWith('sh -c sleep 7509 & wait')), r.stdout);
  });

  test('stats --no-stream', async (t) => {
    await detached(t, 'sta', ['sleep', '7510'], ['--memory', '64m']);
    const r = await d.docker(['stats', '--no-stream', '--format', '{{json .}}', 'sta']);
    assert.equal(r.code, 0, show(r));
    const s = JSON.parse(r.stdout);
    assert.equal(s.Name, 'sta');
    assert.ok(Number(s.PIDs) >= 1, r.stdout);
    assert.match(s.MemUsage, /^[\d.]+[KMG]?i?B \/ 64MiB$/, r.stdout);
  });

  test('container pid: in the container\'s namespaces', async (t) => {
    const dir = fs.mkdtempSync(path.join(d.dir, 'ns-'));
    await detached(t, 'nsp', ['sh', '-c', `(${nsScript()}) > /out/ns; sleep 7511`], ['-v', `${dir}:/out`]);
    const inside = await namespacesWritten(path.join(dir, 'ns'));
    const pid = Number(await inspect('nsp', '{{.State.Pid}}'));
    assert.deepEqual(namespacesOf(pid), inside);
  });

  test('memory and pids limits, then docker update', async (t) => {
    const id = await detached(t, 'lim', ['sleep', '7512'], ['--memory', '64m', '--pids-limit', '50']);
    const pid = pidOf('sleep 7512');
    assert.ok(cgroupDirs(`${DOCKER_CGROUP_PARENT}/${id}`).length > 0, 'the cgroup under --cgroup-parent');
    assert.equal(cgroupFileOf(pid, 'memory', 'memory.limit_in_bytes', 'memory.max'), String(64 << 20));
    assert.equal(cgroupFileOf(pid, 'pids', 'pids.max', 'pids.max'), '50');
    const r = await d.docker(['update', '--memory', '96m', '--memory-swap', '-1', '--pids-limit', '60', '--cpus', '0.5', '--cpu-shares', '512', 'lim']);
    assert.equal(r.code, 0, show(r));
    assert.equal(cgroupFileOf(pid, 'memory', 'memory.limit_in_bytes', 'memory.max'), String(96 << 20));
    assert.equal(cgroupFileOf(pid, 'pids', 'pids.max', 'pids.max'), '60');
    assert.match(cgroupFileOf(pid, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), /^50000( 100000)?$/);
    assert.equal(cgroupFileOf(pid, 'cpu', 'cpu.shares', 'cpu.weight'), '512');
    assert.equal(await inspect('lim', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}'), `${96 << 20} 60 500000000`);
  });

  test('limits seen from inside', async () => {
    const r = await run(['sh', '-c', `${cgroupReadScript('memory', 'memory.limit_in_bytes', 'memory.max')}; ${cgroupReadScript('pids', 'pids.max', 'pids.max')}`],
      ['--memory', '64m', '--pids-limit', '50']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `${64 << 20}\n50\n`);
  });

  test('env, user, workdir, hostname', async () => {
    const r = await run(['sh', '-c', 'echo $FOO; id -u; id -g; pwd; hostname'], ['-e', 'FOO=bar', '-u', '1000:1000', '-w', '/home/user', '--hostname', 'dk1']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'bar\n1000\n1000\n/home/user\ndk1\n');
  });

  test('read-only rootfs with a tmpfs', async () => {
    const r = await run(['sh', '-c', 'touch /x 2>&1; echo $?; touch /tmp/x && echo tmp-writable'], ['--read-only', '--tmpfs', '/tmp']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'touch: /x: Read-only file system\n1\ntmp-writable\n');
  });

  test('seccomp: Docker\'s default profile, and unconfined', async () => {
    let r = await run(['sh', '-c', 'grep Seccomp: /proc/self/status']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    r = await run(['sh', '-c', 'grep Seccomp: /proc/self/status'], ['--security-opt', 'seccomp=unconfined']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Seccomp:\s+0$/m);
  });

  test('bind mounts: a directory and a file; a named volume', async () => {
    const dir = fs.mkdtempSync(path.join(d.dir, 'bind-'));
    fs.writeFileSync(path.join(dir, 'hello'), 'from the host\n');
    const file = path.join(d.dir, 'motd');
    fs.writeFileSync(file, 'a file from the host\n');
    let r = await run(['sh', '-c', 'cat /data/hello /etc/motd; echo written > /data/out; touch /ro/x 2>&1'],
      ['-v', `${dir}:/data`, '-v', `${file}:/etc/motd:ro`, '-v', `${dir}:/ro:ro`]);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, 'from the host\na file from the host\ntouch: /ro/x: Read-only file system\n');
    assert.equal(fs.readFileSync(path.join(dir, 'out'), 'utf8'), 'written\n');
    r = await run(['sh', '-c', 'echo kept > /v/f'], ['-v', 'vol1:/v']);
    assert.equal(r.code, 0, show(r));
    r = await run(['cat', '/v/f'], ['-v', 'vol1:/v']);
    assert.equal(r.stdout, 'kept\n', show(r));
    r = await d.docker(['volume', 'rm', 'vol1']);
    assert.equal(r.code, 0, show(r));
  });

  test('--privileged', async () => {
    // Docker's --privileged asks for every capability the kernel knows. This host withholds
    // CAP_SYS_RESOURCE from root, so no runtime can grant them all: runc refuses, and so does runa,
    // with the same error.
    const script = 'grep CapEff /proc/self/status; mount -t tmpfs x /tmp && echo mounted; ls /dev | wc -l';
    const r = await run(['sh', '-c', script], ['--privileged']);
    if ((ownCaps() >> CAP_SYS_RESOURCE) & 1n) {
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /\nmounted\n/, show(r));
      return;
    }
    assert.equal(r.code, 125, show(r));
    // runa: 'capset "0x3fffffffff" "0x3fffffffff" "0x0": Operation not permitted'; runc: 'unable to apply caps: operation not permitted'.
    assert.match(r.stderr, /OCI runtime create failed: .*(capset|apply caps).*operation not permitted/i, show(r));
    if (which('runc')) {
      const baseline = await run(['sh', '-c', script], ['--privileged', '--runtime', 'runc']);
      assert.equal(baseline.code, 125, `runc: ${show(baseline)}`);
      assert.match(baseline.stderr, /OCI runtime create failed: .*unable to apply caps: operation not permitted/, show(baseline));
    }
    // --privileged ignores --cap-drop; every capability but that one is what the host has.
    const most = await run(['sh', '-c', script], ['--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE']);
    assert.equal(most.code, 0, show(most));
    // Docker 20.10 knows capabilities 0..37 (0x3fffffffff).
    assert.equal(BigInt(`0x${/CapEff:\s+(\w+)/.exec(most.stdout)![1]}`), ownCaps() & 0x3fffffffffn & ~(1n << CAP_SYS_RESOURCE), show(most));
    assert.match(most.stdout, /\nmounted\n/, show(most));
  });

  test('--device', { skip: fs.existsSync('/dev/loop-control') ? false : 'no /dev/loop-control on this host' }, async () => {
    // /dev/loop-control is not among Docker's default device rules: only --device lets it be opened.
    const dev = '/dev/loop-control';
    const open = 'stat -c "%t:%T" /dev/lc; : < /dev/lc && echo opened';
    let r = await run(['sh', '-c', open], ['--device', `${dev}:/dev/lc`]);
    assert.equal(r.code, 0, show(r));
    const st = fs.statSync(dev);
    assert.equal(r.stdout, `${(st.rdev >> 8).toString(16)}:${(st.rdev & 0xff).toString(16)}\nopened\n`);
    // Write-only (no r): the device cgroup refuses opening it for reading.
    r = await run(['sh', '-c', ': < /dev/lc'], ['--device', `${dev}:/dev/lc:w`]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /Operation not permitted/, show(r));
    // Not given: not there.
    r = await run(['sh', '-c', 'test -e /dev/lc || echo absent']);
    assert.equal(r.stdout, 'absent\n', show(r));
  });

  test('--init: docker-init is PID 1 and reaps', async () => {
    if (!fs.existsSync('/usr/bin/docker-init') && !which('docker-init')) return;
    const r = await run(['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; echo $$'], ['--init']);
    assert.equal(r.code, 0, show(r));
    const [init, shPid] = r.stdout.split('\n');
    assert.match(init, /^\/sbin\/docker-init -- sh -c/);
    assert.notEqual(shPid, '1');
  });

  test('restart policies: on-failure:2, always', async (t) => {
    await detached(t, 'rof', ['sh', '-c', 'exit 3'], ['--restart', 'on-failure:2']);
    await until(async () => (await inspect('rof', '{{.State.Status}} {{.RestartCount}}')) === 'exited 2', 'two restarts, then exited', 30_000);
    assert.equal(await inspect('rof', '{{.State.ExitCode}}'), '3');
    await detached(t, 'ral', ['sh', '-c', 'sleep 0.2; exit 0'], ['--restart', 'always']);
    await until(async () => Number(await inspect('ral', '{{.RestartCount}}')) >= 2, 'always restarts', 30_000);
    const r = await d.docker(['stop', '-t', '1', 'ral'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, show(r));
    assert.equal(await inspect('ral', '{{.State.Status}}'), 'exited');
  });

  test('healthcheck: unhealthy, then healthy', async (t) => {
    await detached(t, 'hc', ['sleep', '7513'], ['--health-cmd', 'test -f /tmp/ok', '--health-interval', '1s', '--health-retries', '1', '--health-timeout', '5s']);
    await until(async () => (await inspect('hc', '{{.State.Health.Status}}')) === 'unhealthy', 'unhealthy', 30_000);
    const r = await d.docker(['exec', 'hc', 'touch', '/tmp/ok']);
    assert.equal(r.code, 0, show(r));
    await until(async () => (await inspect('hc', '{{.State.Health.Status}}')) === 'healthy', 'healthy', 30_000);
    const log = JSON.parse(await inspect('hc', '{{json .State.Health.Log}}'));
    assert.ok(log.some((l: any) => l.ExitCode === 1) && log.some((l: any) => l.ExitCode === 0), JSON.stringify(log));
  });

  test('docker cp: in and out of a running container', async (t) => {
    await detached(t, 'cpy', ['sleep', '7514']);
    const src = path.join(d.dir, 'cp-in');
    fs.writeFileSync(src, 'copied in\n');
    let r = await d.docker(['cp', src, 'cpy:/tmp/in']);
    assert.equal(r.code, 0, show(r));
    r = await d.docker(['exec', 'cpy', 'sh', '-c', 'cat /tmp/in; echo made inside > /tmp/out']);
    assert.equal(r.stdout, 'copied in\n', show(r));
    const dst = path.join(d.dir, 'cp-out');
    r = await d.docker(['cp', 'cpy:/tmp/out', dst]);
    assert.equal(r.code, 0, show(r));
    assert.equal(fs.readFileSync(dst, 'utf8'), 'made inside\n');
  });

  test('--network host: dockerd\'s network namespace', async (t) => {
    await detached(t, 'hnet', ['sleep', '7515'], ['--network', 'host'], []);
    const pid = Number(await inspect('hnet', '{{.State.Pid}}'));
    assert.equal(fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync(`/proc/${processes((c) => c.startsWith('dockerd ') && c.includes(d.dir))[0].split(':')[0]}/ns/net`));
    assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'not the host\'s: dockerd runs in the test\'s namespace');
  });

  test('--rm leaves nothing', async () => {
    const cidfile = path.join(d.dir, 'gone.cid');
    const r = await run(['true'], ['--cidfile', cidfile]);
    assert.equal(r.code, 0, show(r));
    const id = fs.readFileSync(cidfile, 'utf8').trim();
    const left = async () => [
      ...(await d.docker(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter((l) => l === id),
      ...processes((cmd) => cmd.includes(id)),
      ...cgroupDirs(`${DOCKER_CGROUP_PARENT}/${id}`),
      ...mountsMentioning(id),
      ...[path.join(d.runtimeRoot, id)].filter((x) => fs.existsSync(x)),
    ];
    await until(async () => (await left()).length === 0, 'the container to be gone', 10_000).catch(() => {});
    assert.deepEqual(await left(), []);
  });

  test('10 containers at once', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => run(['echo', `c${i}`], [], 120_000)));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `c${i}: ${show(r)}`);
      assert.equal(r.stdout, `c${i}\n`);
    });
  });

  test('teardown leaves nothing', async () => {
    tornDown = true;
    const left = await d.teardown();
    assert.ok(nothingLeft(left), JSON.stringify(left, null, 1));
  });
});
