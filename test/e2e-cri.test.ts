// End to end under Kubernetes' CRI: containerd's CRI plugin with the runtime under test as its
// runtime handler (runtime_type io.containerd.runc.v2, options.BinaryName), driven by crictl as
// kubelet drives it: pods (runp, stopp, rmp), containers in them (create, start, exec, logs,
// inspect, stats, update, stop, rm), pod networking through the CNI plugins in a network
// namespace the test makes, and at the end nothing left behind.
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { RUNTIME, cgroupDirs, cgroupFileOf, inPty, namespacesOf, nothingLeft, pidOf, processes, show, type CmdResult } from './helpers/callers.js';
import { CGROUP_PARENT, CriContainerd, POD_GATEWAY, cniMissing, criMissing } from './helpers/cri.js';
import { IMAGE, busyboxMissing, writeBusyboxImage, type ImageOpts } from './helpers/oci-image.js';
import { runaBin, until } from './helpers/runa.js';

const PAUSE_IMAGE = 'localhost/runa-test/pause:latest';
const missing = process.getuid?.() !== 0 ? 'needs root' : criMissing() ?? busyboxMissing();
const noCni = missing ? null : cniMissing();
if (missing) console.log(`# CRI e2e skipped: ${missing}`);
else if (noCni) console.log(`# CRI e2e: networking cases skipped (pods take the node's network instead): ${noCni}`);

/** CRI's NamespaceMode. */
const NS = { POD: 0, CONTAINER: 1, NODE: 2 } as const;
/** CRI's MountPropagation. */
const PROPAGATION = { PRIVATE: 0, HOST_TO_CONTAINER: 1, BIDIRECTIONAL: 2 } as const;
/** CRI's SecurityProfile.ProfileType. */
const SECCOMP = { RuntimeDefault: 0, Unconfined: 1 } as const;

interface PodOpts { hostNetwork?: boolean; hostPid?: boolean; sharedPid?: boolean; privileged?: boolean; ports?: { container_port: number; host_port: number }[] }
interface Pod { id: string; name: string; config: string; opts: PodOpts }

describe('CRI e2e (containerd CRI plugin + crictl)', { skip: missing ?? false }, () => {
  let c: CriContainerd;
  let tornDown = false;

  before(async () => {
    c = new CriContainerd({ cni: !noCni });
    await c.start(PAUSE_IMAGE);
    const images: [string, ImageOpts][] = [
      ['busybox.tar', {}],
      // The sandbox image: busybox's sleep as the pod's pause process.
      ['pause.tar', { name: PAUSE_IMAGE, entrypoint: ['/bin/sleep'], cmd: ['2147483647'] }],
    ];
    for (const [file, opts] of images) {
      writeBusyboxImage(path.join(c.dir, file), opts);
      const r = await c.ctr(['images', 'import', path.join(c.dir, file)], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, show(r));
    }
    const r = await c.crictl(['images', '-q']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout.trim().split('\n').length, 2, r.stdout);
  });

  after(async () => {
    if (c && !tornDown) await c.teardown();
  });

  const podConfig = (name: string, o: PodOpts = {}): object => ({
    metadata: { name, namespace: 'runa-e2e', uid: `uid-${name}`, attempt: 0 },
    // kubelet gives a pod on the node's network no hostname (it keeps the node's UTS namespace).
    ...(o.hostNetwork || noCni ? {} : { hostname: name }),
    log_directory: path.join(c.dir, 'logs', name),
    ...(o.ports ? { port_mappings: o.ports.map((p) => ({ protocol: 0, ...p })) } : {}),
    linux: {
      cgroup_parent: `${CGROUP_PARENT}/${name}`,
      security_context: {
        namespace_options: { network: o.hostNetwork || noCni ? NS.NODE : NS.POD, pid: o.hostPid ? NS.NODE : o.sharedPid ? NS.POD : NS.CONTAINER },
        privileged: o.privileged ?? false,
      },
    },
  });

  /** `crictl runp`; the pod is stopped and removed after the test. */
  const runp = async (t: TestContext | null, name: string, o: PodOpts = {}): Promise<Pod> => {
    const config = c.writeConfig(`pod-${name}`, podConfig(name, o));
    fs.mkdirSync(path.join(c.dir, 'logs', name), { recursive: true });
    const r = await c.crictl(['runp', config], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/, show(r));
    t?.after(async () => {
      await c.crictl(['stopp', id], { timeoutMs: 30_000 });
      await c.crictl(['rmp', id], { timeoutMs: 30_000 });
    });
    return { id, name, config, opts: o };
  };

  /** A container's config; its pid namespace is the pod's choice unless `security` says otherwise (as kubelet does). */
  const containerConfig = (pod: Pod, name: string, command: string[], extra: Record<string, unknown> = {}, security: Record<string, unknown> = {}): object => ({
    metadata: { name },
    image: { image: IMAGE },
    command,
    log_path: `${name}.log`,
    ...extra,
    linux: { security_context: { namespace_options: { pid: pod.opts.hostPid ? NS.NODE : pod.opts.sharedPid ? NS.POD : NS.CONTAINER }, ...security } },
  });

  /** `crictl create --no-pull` and `crictl start`; resolves with the container's ID. */
  const createStart = async (pod: Pod, name: string, command: string[], extra: Record<string, unknown> = {}, security: Record<string, unknown> = {}): Promise<string> => {
    const config = c.writeConfig(`ctr-${pod.name}-${name}`, containerConfig(pod, name, command, extra, security));
    let r = await c.crictl(['create', '--no-pull', pod.id, config, pod.config], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    const id = r.stdout.trim();
    r = await c.crictl(['start', id], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(r));
    return id;
  };

  const inspect = async (id: string, what: 'inspect' | 'inspectp' = 'inspect'): Promise<any> => {
    const r = await c.crictl([what, '-o', 'json', id]);
    assert.equal(r.code, 0, show(r));
    return JSON.parse(r.stdout);
  };
  const state = async (id: string): Promise<string> => (await inspect(id)).status.state;
  const execSync = (id: string, cmd: string[], timeoutS = 0): Promise<CmdResult> =>
    c.crictl(['exec', '-s', ...(timeoutS ? ['--timeout', String(timeoutS)] : []), id, ...cmd], { timeoutMs: 60_000 });

  // One pod for the cases that need no pod of their own.
  let base: Pod | null = null;
  const basePod = async (): Promise<Pod> => (base ??= await runp(null, 'base'));

  test('runp, create, start, inspect: the pid and the pod\'s namespaces', async () => {
    const pod = await basePod();
    const id = await createStart(pod, 'sleeper', ['sleep', '7301']);
    assert.equal(await state(id), 'CONTAINER_RUNNING');
    const info = (await inspect(id)).info;
    assert.equal(info.pid, pidOf('sleep 7301'), 'inspect\'s pid is the container\'s process');
    const pausePid = (await inspect(pod.id, 'inspectp')).info.pid;
    assert.equal(fs.readFileSync(`/proc/${pausePid}/cmdline`, 'utf8'), '/bin/sleep\x002147483647\x00', 'the sandbox runs the imported pause image');
    const mine = namespacesOf(info.pid, ['net', 'ipc', 'uts', 'pid', 'mnt']);
    const pause = namespacesOf(pausePid, ['net', 'ipc', 'uts', 'pid', 'mnt']);
    for (const k of ['net', 'ipc', 'uts']) assert.equal(mine[k], pause[k], `${k} shared with the sandbox`);
    for (const k of ['pid', 'mnt']) assert.notEqual(mine[k], pause[k], `${k} of its own`);
    // The namespaces inspect reports are the ones the process is in.
    const specNs: { type: string; path?: string }[] = info.runtimeSpec.linux.namespaces;
    assert.equal(specNs.find((n) => n.type === 'network')?.path, `/proc/${pausePid}/ns/net`);
    assert.match(specNs.find((n) => n.type === 'ipc')?.path ?? '', new RegExp(`^/proc/${pausePid}/ns/ipc$`));
    // The cgroup is the pod's cgroup_parent plus the container's ID.
    assert.ok(cgroupDirs(`${CGROUP_PARENT}/base/${id}`).length > 0, 'the container\'s cgroup under the pod\'s parent');
    if (RUNTIME === runaBin) {
      const r = spawnSync(runaBin, ['--root', c.runtimeRoot, 'list'], { encoding: 'utf8' });
      assert.match(r.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '', new RegExp(`\\s${pod.id}$`), 'runa keeps the pod as a sandbox');
    }
  });

  test('exec -s: output, exit codes, timeout', async () => {
    const pod = await basePod();
    const id = await createStart(pod, 'execs', ['sleep', '7302']);
    let r = await execSync(id, ['sh', '-c', 'echo out; echo err >&2']);
    assert.equal(r.code, 0, show(r));
    // crictl 1.26 prints the command's stdout, then its stderr, each with a newline, on its stdout.
    assert.equal(r.stdout, 'out\n\nerr\n\n');
    // crictl exits 1 and names the command's status.
    for (const code of [1, 3, 42, 127]) {
      r = await execSync(id, ['sh', '-c', `exit ${code}`]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`'sh -c exit ${code}' exited with ${code}:`), show(r));
    }
    r = await execSync(id, ['/no/such/binary']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /no such file|not found|exited with/i, show(r));
    // A command past its timeout: crictl fails, and the process does not live on.
    const started = Date.now();
    r = await execSync(id, ['sleep', '7399'], 2);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /timeout|deadline/i, show(r));
    assert.ok(Date.now() - started < 20_000, show(r));
    await until(() => Number.isNaN(pidOf('sleep 7399')), 'the timed-out exec to be killed', 15_000);
    assert.equal(await state(id), 'CONTAINER_RUNNING');
  });

  test('exec: streaming, without and with a tty', async () => {
    const pod = await basePod();
    const id = await createStart(pod, 'execstream', ['sleep', '7303']);
    let r = await c.crictl(['exec', id, 'sh', '-c', 'echo streamed; tty || true']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'streamed\nnot a tty\n');
    r = await c.crictl(['exec', id, 'sh', '-c', 'exit 7']);
    assert.notEqual(r.code, 0, show(r));
    r = await c.crictl(['exec', '-i', id, 'sh', '-c', 'read x; echo got $x'], { input: 'hello\n' });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'got hello\n');
    const [cmd, args] = c.argv(['exec', '-it', id, 'sh', '-c', 'tty; stty size']);
    r = await inPty(cmd, args, { timeoutMs: 30_000 });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /\/dev\/pts\/\d+/, show(r));
  });

  test('logs', async () => {
    const pod = await basePod();
    const id = await createStart(pod, 'logger', ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; sleep 7304']);
    await until(async () => (await c.crictl(['logs', id])).stdout.includes('to-stdout'), 'the log line');
    const r = await c.crictl(['logs', id]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'to-stdout\n');
    assert.equal(r.stderr, 'to-stderr\n');
    const file = path.join(c.dir, 'logs', 'base', 'logger.log');
    assert.match(fs.readFileSync(file, 'utf8'), /^\S+ stdout F to-stdout$/m, 'the CRI log format');
  });

  test('stats', async () => {
    const pod = await basePod();
    const id = await createStart(pod, 'stats', ['sleep', '7305']);
    const r = await c.crictl(['stats', '-o', 'json', '--id', id]);
    assert.equal(r.code, 0, show(r));
    const [s] = JSON.parse(r.stdout).stats;
    assert.equal(s.attributes.id, id);
    assert.ok(Number(s.memory.workingSetBytes.value) > 0, r.stdout);
    assert.ok(Number(s.cpu.usageCoreNanoSeconds.value) > 0, r.stdout);
  });

  test('update: memory and CPU limits', async () => {
    const pod = await basePod();
    const id = await createStart(pod, 'upd', ['sleep', '7306']);
    const pid = pidOf('sleep 7306');
    const r = await c.crictl(['update', '--memory', String(96 << 20), '--cpu-quota', '50000', '--cpu-period', '100000', '--cpu-share', '512', id]);
    assert.equal(r.code, 0, show(r));
    assert.equal(cgroupFileOf(pid, 'memory', 'memory.limit_in_bytes', 'memory.max'), String(96 << 20));
    assert.match(cgroupFileOf(pid, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), /^50000( 100000)?$/);
    assert.equal(cgroupFileOf(pid, 'cpu', 'cpu.shares', 'cpu.weight') !== '', true);
    const res = (await inspect(id)).info.runtimeSpec.linux.resources;
    assert.equal(res.memory.limit, 96 << 20);
    assert.equal(res.cpu.quota, 50000);
  });

  test('stop, rm, stopp, rmp: nothing of the pod left', async () => {
    const pod = await runp(null, 'gone');
    const id = await createStart(pod, 'doomed', ['sleep', '7307']);
    const pausePid = (await inspect(pod.id, 'inspectp')).info.pid;
    const netnsPath: string | undefined = (await inspect(pod.id, 'inspectp')).info.runtimeSpec.linux.namespaces.find((n: any) => n.type === 'network')?.path;
    let r = await c.crictl(['stop', '--timeout', '1', id]);
    assert.equal(r.code, 0, show(r));
    assert.equal(await state(id), 'CONTAINER_EXITED');
    assert.equal((await inspect(id)).status.exitCode, 137, 'sleep as PID 1 ignores TERM: killed after the timeout');
    assert.ok(Number.isNaN(pidOf('sleep 7307')));
    r = await c.crictl(['rm', id]);
    assert.equal(r.code, 0, show(r));
    assert.equal((await c.crictl(['inspect', id])).code, 1);
    r = await c.crictl(['stopp', pod.id]);
    assert.equal(r.code, 0, show(r));
    assert.equal((await inspect(pod.id, 'inspectp')).status.state, 'SANDBOX_NOTREADY');
    assert.ok(!fs.existsSync(`/proc/${pausePid}`) || fs.readFileSync(`/proc/${pausePid}/cmdline`, 'utf8') !== '/bin/sleep\x002147483647\x00');
    r = await c.crictl(['rmp', pod.id]);
    assert.equal(r.code, 0, show(r));
    assert.equal((await c.crictl(['inspectp', pod.id])).code, 1);
    if (netnsPath) assert.ok(!fs.existsSync(netnsPath), `${netnsPath} removed`);
    assert.deepEqual(cgroupDirs(`${CGROUP_PARENT}/gone/${id}`), []);
    assert.deepEqual(cgroupDirs(`${CGROUP_PARENT}/gone/${pod.id}`), []);
    assert.ok(!fs.existsSync(path.join(c.runtimeRoot, id)) && !fs.existsSync(path.join(c.runtimeRoot, pod.id)), 'the runtime\'s state removed');
    assert.deepEqual(processes((cmd) => cmd.includes('containerd-shim') && cmd.includes(pod.id)), []);
  });

  test('privileged pod: every capability the node has, the host\'s devices, mount', async (t) => {
    const pod = await runp(t, 'priv', { privileged: true });
    const id = await createStart(pod, 'priv', ['sleep', '7308'], {}, { privileged: true });
    const r = await execSync(id, ['sh', '-c', 'grep CapEff /proc/self/status; grep -E " /sys (sysfs|[^ ]+) " /proc/mounts | cut -d" " -f4 | cut -d, -f1; ls /dev | wc -l; mkdir -p /mnt/t && mount -t tmpfs x /mnt/t && echo mounted']);
    assert.equal(r.code, 0, show(r));
    const [capLine, sysMode, devCount, mounted] = r.stdout.trim().split('\n');
    const containerdCaps = fs.readFileSync(`/proc/${process.pid}/status`, 'utf8').match(/CapEff:\s+(\w+)/)![1];
    assert.equal(capLine.split(/\s+/)[1], containerdCaps, 'the node\'s own capabilities (containerd\'s)');
    // The spec asks for a writable sysfs, but the pod's network namespace has one already, mounted
    // read-only by the sandbox: the kernel hands back that superblock, read-only (runc's /sys is too).
    assert.deepEqual((await inspect(id)).info.runtimeSpec.mounts.find((m: any) => m.destination === '/sys').options, ['nosuid', 'noexec', 'nodev', 'rw']);
    assert.match(sysMode, /^r[ow]$/);
    assert.ok(Number(devCount) > 20, `the host's devices (${devCount})`);
    assert.equal(mounted, 'mounted');
    // An unprivileged container of the same pod has the default set.
    const plain = await createStart(pod, 'plain', ['sleep', '7309']);
    const p = await execSync(plain, ['sh', '-c', 'grep CapEff /proc/self/status']);
    assert.match(p.stdout, /CapEff:\s+00000000a80425fb/, show(p));
  });

  test('host-network and host-pid pod', async (t) => {
    const pod = await runp(t, 'hostns', { hostNetwork: true, hostPid: true });
    const id = await createStart(pod, 'hostns', ['sleep', '7310']);
    const pid = (await inspect(id)).info.pid;
    assert.equal(namespacesOf(pid, ['net']).net, fs.readlinkSync(`/proc/${c.containerdPid}/ns/net`), 'the node\'s network namespace (containerd\'s)');
    assert.equal(namespacesOf(pid, ['pid']).pid, fs.readlinkSync('/proc/self/ns/pid'), 'the host\'s pid namespace');
    const r = await execSync(id, ['sh', '-c', `cat /proc/${process.pid}/cmdline | tr "\\0" " "`]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /node/, 'the host\'s processes are visible');
  });

  test('two containers share the pod\'s namespaces, and its pid namespace when asked', async (t) => {
    const pod = await runp(t, 'shared', { sharedPid: true });
    const a = await createStart(pod, 'a', ['sleep', '7311'], {}, { namespace_options: { pid: NS.POD } });
    const b = await createStart(pod, 'b', ['sleep', '7312'], {}, { namespace_options: { pid: NS.POD } });
    const [pa, pb] = [(await inspect(a)).info.pid, (await inspect(b)).info.pid];
    const pausePid = (await inspect(pod.id, 'inspectp')).info.pid;
    const kinds = ['net', 'ipc', 'uts', 'pid'];
    assert.deepEqual(namespacesOf(pa, kinds), namespacesOf(pausePid, kinds));
    assert.deepEqual(namespacesOf(pb, kinds), namespacesOf(pausePid, kinds));
    const r = await execSync(a, ['ps', '-o', 'pid,args']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^\s*1 \/bin\/sleep 2147483647$/m, 'the pause process is PID 1');
    assert.match(r.stdout, /sleep 7312/, 'b\'s process is seen from a');
    // And they share the network: a listener in a is reached from b on localhost.
    const ex = await c.crictl(['exec', '-s', a, 'sh', '-c', 'busybox nc -l -p 7400 -e echo hello-from-a >/dev/null 2>&1 & echo started']);
    assert.equal(ex.code, 0, show(ex));
    const got = await until(async () => {
      const x = await execSync(b, ['sh', '-c', 'echo | busybox nc 127.0.0.1 7400']);
      return x.stdout.includes('hello-from-a') ? x : null;
    }, 'b to reach a on localhost', 15_000);
    assert.match(got!.stdout, /hello-from-a/);
  });

  test('runAsUser, readOnlyRootFilesystem, masked and read-only paths', async () => {
    const pod = await basePod();
    const id = await createStart(pod, 'restricted', ['sleep', '7313'], {}, {
      run_as_user: { value: 1000 },
      readonly_rootfs: true,
      // A file is masked by /dev/null, a directory by an empty read-only tmpfs.
      masked_paths: ['/etc/group', '/home'],
      readonly_paths: ['/proc/sys', '/var'],
    });
    const r = await execSync(id, ['sh', '-c', [
      'id -u', 'touch /x 2>&1; echo rc=$?', 'wc -c < /etc/group', 'ls -A /home | wc -l', 'touch /home/x 2>&1; echo rc=$?',
      'grep -E " /proc/sys | /var " /proc/mounts | cut -d" " -f2,4 | cut -d, -f1 | sort',
    ].join('; ')]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '1000\ntouch: /x: Read-only file system\nrc=1\n0\n0\ntouch: /home/x: Read-only file system\nrc=1\n/proc/sys ro\n/var ro\n\n\n');
  });

  test('seccomp: RuntimeDefault and Unconfined', async () => {
    const pod = await basePod();
    const def = await createStart(pod, 'secdef', ['sleep', '7314'], {}, { seccomp: { profile_type: SECCOMP.RuntimeDefault } });
    const unc = await createStart(pod, 'secunc', ['sleep', '7315'], {}, { seccomp: { profile_type: SECCOMP.Unconfined } });
    let r = await execSync(def, ['sh', '-c', 'grep Seccomp: /proc/self/status; busybox unshare -U true 2>&1; echo rc=$?']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Seccomp:\s+2$/m, show(r));
    assert.match(r.stdout, /rc=[1-9]/, 'unshare is refused under the default profile');
    r = await execSync(unc, ['sh', '-c', 'grep Seccomp: /proc/self/status']);
    assert.match(r.stdout, /^Seccomp:\s+0$/m, show(r));
  });

  test('mount propagation: rprivate, rslave, rshared', async (t) => {
    // A shared mount of our own on the host (the host's / is private here).
    const shared = path.join(c.dir, 'prop');
    fs.mkdirSync(shared);
    const sh = (cmd: string): void => {
      const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    };
    sh(`mount --bind ${shared} ${shared} && mount --make-shared ${shared}`);
    t.after(() => { spawnSync('umount', ['-R', '-l', shared]); });
    const pod = await runp(t, 'prop', { privileged: true });
    const ids: Record<string, string> = {};
    for (const [name, propagation] of Object.entries(PROPAGATION)) {
      ids[name] = await createStart(pod, name.toLowerCase().replace('_', '-'), ['sleep', '2000'],
        { mounts: [{ container_path: '/m', host_path: shared, propagation }] }, { privileged: true });
    }
    const specMount = async (id: string) => (await inspect(id)).info.runtimeSpec.mounts.find((m: any) => m.destination === '/m');
    assert.ok((await specMount(ids.PRIVATE)).options.includes('rprivate'));
    assert.ok((await specMount(ids.HOST_TO_CONTAINER)).options.includes('rslave'));
    assert.ok((await specMount(ids.BIDIRECTIONAL)).options.includes('rshared'));
    // The host mounts under the shared directory: seen by rslave and rshared, not by rprivate.
    fs.mkdirSync(path.join(shared, 'fromhost'));
    sh(`mount -t tmpfs fromhost ${shared}/fromhost && echo host > ${shared}/fromhost/f`);
    const cat = async (id: string, file: string): Promise<string> => (await execSync(id, ['sh', '-c', `cat ${file} 2>/dev/null || echo none`])).stdout.trim();
    assert.equal(await cat(ids.PRIVATE, '/m/fromhost/f'), 'none');
    assert.equal(await cat(ids.HOST_TO_CONTAINER, '/m/fromhost/f'), 'host');
    assert.equal(await cat(ids.BIDIRECTIONAL, '/m/fromhost/f'), 'host');
    // Containers mount: only the rshared one's mount reaches the host.
    fs.mkdirSync(path.join(shared, 'fromslave'));
    fs.mkdirSync(path.join(shared, 'frompod'));
    let r = await execSync(ids.HOST_TO_CONTAINER, ['sh', '-c', 'mount -t tmpfs s /m/fromslave && echo slave > /m/fromslave/f']);
    assert.equal(r.code, 0, show(r));
    r = await execSync(ids.BIDIRECTIONAL, ['sh', '-c', 'mount -t tmpfs p /m/frompod && echo pod > /m/frompod/f']);
    assert.equal(r.code, 0, show(r));
    assert.ok(!fs.existsSync(path.join(shared, 'fromslave', 'f')), 'an rslave container\'s mount stays inside');
    assert.equal(fs.readFileSync(path.join(shared, 'frompod', 'f'), 'utf8'), 'pod\n', 'an rshared container\'s mount reaches the host');
    assert.equal(await cat(ids.PRIVATE, '/m/frompod/f'), 'none');
    assert.equal(await cat(ids.HOST_TO_CONTAINER, '/m/frompod/f'), 'pod');
  });

  test('pod networking: the pod\'s address, pod to pod, hostPort through portmap', { skip: noCni ?? false }, async (t) => {
    const server = await runp(t, 'web', { ports: [{ container_port: 8080, host_port: 30080 }] });
    const client = await runp(t, 'client');
    const web = await createStart(server, 'web', ['sh', '-c', 'mkdir -p /tmp/www && echo hello-web > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www']);
    const cli = await createStart(client, 'cli', ['sleep', '7316']);
    const ip: string = (await inspect(server.id, 'inspectp')).status.network.ip;
    assert.match(ip, /^10\.244\.77\.\d+$/);
    let r = await execSync(web, ['sh', '-c', 'busybox ip -4 -o addr show eth0']);
    assert.match(r.stdout, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`), show(r));
    const fetch = async (run: () => Promise<CmdResult>): Promise<CmdResult> =>
      (await until(async () => { const x = await run(); return x.stdout.includes('hello-web') ? x : null; }, 'the web pod to answer', 20_000).catch(() => null)) ?? run();
    // busybox-static's wget crashes (in glibc's static resolver): an HTTP request through nc.
    const get = (host: string, port: number): string[] => ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${host} ${port}`];
    r = await fetch(() => execSync(cli, get(ip, 8080)));
    assert.match(r.stdout, /^HTTP\/1\.[01] 200 OK\r$/m, show(r));
    assert.match(r.stdout, /^hello-web$/m, show(r));
    // The node (the test's network namespace) reaches the hostPort on its bridge address.
    const [sh0, ...shArgs] = get(POD_GATEWAY, 30080);
    r = await fetch(() => c.inNetns(sh0, shArgs));
    assert.match(r.stdout, /^hello-web$/m, show(r));
    r = await c.inNetns('iptables', ['-t', 'nat', '-S']);
    assert.match(r.stdout, /30080/, 'portmap\'s rule (in the test\'s namespace only)');
  });

  test('teardown leaves nothing: containers, pods, shims, cgroups, mounts, network namespaces', async () => {
    // Everything was stopped and removed through CRI before containerd stops.
    let r = await c.crictl(['ps', '-aq']);
    for (const id of r.stdout.split('\n').filter(Boolean)) {
      await c.crictl(['stop', '--timeout', '0', id]);
      assert.equal((await c.crictl(['rm', id])).code, 0);
    }
    r = await c.crictl(['pods', '-q']);
    for (const id of r.stdout.split('\n').filter(Boolean)) {
      assert.equal((await c.crictl(['stopp', id], { timeoutMs: 30_000 })).code, 0);
      assert.equal((await c.crictl(['rmp', id], { timeoutMs: 30_000 })).code, 0);
    }
    assert.equal((await c.crictl(['ps', '-aq'])).stdout.trim(), '');
    assert.equal((await c.crictl(['pods', '-q'])).stdout.trim(), '');
    tornDown = true;
    const left = await c.teardown();
    assert.ok(nothingLeft(left), JSON.stringify(left, null, 1));
  });
});
