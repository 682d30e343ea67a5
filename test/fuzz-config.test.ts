// A structure-aware fuzzer of config.json: real configs (runc's `spec`, a podman one, and one
// of the OCI validation suite's kind) mutated a few fields at a time, each given to `runa
// create`. Every case ends in a container that is whole (`created`, then deleted) or in a
// clear error that names the field: never a crash, a stack trace, a hang over 10 s, a daemon
// gone or anything left behind. A fixed seed makes a failure replayable (the case number and
// its mutations are in the message). RUNA_FUZZ_CONFIG_CASES sets the number of cases
// (default 10,000), RUNA_FUZZ_SEED the seed; RUNA_FUZZ_SHOW=1 prints the refusals that come
// from a later step than the config's validation (a mount, a hook, the kernel).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, alive } from './helpers/runa.js';
import { cgroupChildren } from './helpers/callers.js';
import { defaultProfile } from './helpers/seccomp.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { blkioWeightWorks } from './helpers/host.js';

const CASES = Number(process.env.RUNA_FUZZ_CONFIG_CASES ?? 10_000);
const SEED = Number(process.env.RUNA_FUZZ_SEED ?? 20261202);
/** A block I/O weight only where the host can apply one (no BFQ or CFQ scheduler on a fresh Debian VM). */
const BLKIO_WEIGHT = blkioWeightWorks();
const WORKERS = 2;
const TIMEOUT_MS = 10_000;

const sb = new Sandbox('fzc');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

/** The three kinds of config the callers give (their rootfs is the sandbox's busybox one). */
function baseConfigs(rootfs: string): Array<{ name: string; spec: Json }> {
  const runc: any = defaultSpec();
  runc.root.path = rootfs;
  runc.process.args = ['true'];
  runc.process.terminal = false;

  // What podman 4 writes (cgroupfs manager, --network none): its env, its 11 capabilities, its
  // mounts, annotations, its default seccomp profile, pids limit, sysctls, masked paths.
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
  const podman = {
    ociVersion: '1.0.2-dev',
    process: {
      user: { uid: 0, gid: 0, umask: 18, additionalGids: [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27] },
      args: ['/bin/sh', '-c', 'exit 0'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm', 'container=podman', 'HOSTNAME=fz'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      // podman's are 1048576 and 4194304; this host gives no CAP_SYS_RESOURCE to raise a hard limit.
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }, { type: 'RLIMIT_NPROC', hard: 4096, soft: 4096 }],
      oomScoreAdj: 0,
    },
    root: { path: rootfs },
    hostname: 'fz',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['rw', 'nosuid', 'nodev', 'noexec', 'relatime', 'size=64000k', 'mode=1777'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'rprivate', 'nosuid', 'nodev', 'tmpcopyup'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    annotations: { 'io.container.manager': 'libpod', 'io.podman.annotations.autoremove': 'FALSE', 'org.opencontainers.image.stopSignal': '15' },
    linux: {
      sysctl: { 'net.ipv4.ping_group_range': '0 0' },
      resources: { devices: [{ allow: false, access: 'rwm' }], pids: { limit: 2048 } },
      cgroupsPath: '/libpod_parent/libpod-fz',
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
      seccomp: defaultProfile('podman', caps),
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/fs/selinux', '/sys/dev/block'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };

  // The OCI validation suite's kind: a user namespace, rlimits, hooks, resources, devices.
  const validation = {
    ociVersion: '1.2.0',
    process: {
      terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/sh', '-c', 'true'], env: ['PATH=/bin:/usr/bin'], cwd: '/tmp',
      capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
      rlimits: [{ type: 'RLIMIT_CORE', hard: 1024, soft: 512 }, { type: 'RLIMIT_NOFILE', hard: 512, soft: 256 }],
      noNewPrivileges: true,
      // runtime-spec 1.2/1.3 process fields
      scheduler: { policy: 'SCHED_BATCH', nice: 5 }, ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 },
      consoleSize: { height: 24, width: 80 }, execCPUAffinity: { initial: '0', final: '0' },
    },
    root: { path: rootfs, readonly: false },
    hostname: 'validation',
    domainname: 'validation.test',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m'] },
    ],
    hooks: {
      prestart: [{ path: '/bin/true', args: ['true', 'prestart'] }],
      createRuntime: [{ path: '/bin/true', timeout: 5 }],
      poststop: [{ path: '/bin/true' }],
    },
    annotations: { 'org.opencontainers.runtime-tools': 'fuzz' },
    linux: {
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      resources: {
        devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
        memory: { limit: 268435456, reservation: 134217728 }, cpu: { shares: 512, quota: 50000, period: 100000 },
        pids: { limit: 64 }, ...(BLKIO_WEIGHT ? { blockIO: { weight: 500 } } : {}),
      },
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }, ...(fs.existsSync('/proc/self/ns/time') ? [{ type: 'time' }] : [])],
      devices: [{ path: '/dev/fuzz-null', type: 'c', major: 1, minor: 3, fileMode: 438, uid: 0, gid: 0 }],
      sysctl: { 'kernel.shm_rmid_forced': '1' },
      maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'],
      personality: { domain: 'LINUX' },
      ...(fs.existsSync('/sys/devices/system/node/node0') ? { memoryPolicy: { mode: 'MPOL_PREFERRED', nodes: '0' } } : {}),
      ...(fs.existsSync('/proc/self/ns/time') ? { timeOffsets: { monotonic: { secs: 100, nanosecs: 0 } } } : {}),
    },
  };
  return [{ name: 'runc spec', spec: runc }, { name: 'podman', spec: podman as Json }, { name: 'validation', spec: validation as Json }];
}

/** Every path to a value in the tree (the root excluded). */
function paths(v: Json, at: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([...at, i]); paths(x, [...at, i], out); });
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) { out.push([...at, k]); paths(v[k], [...at, k], out); }
  return out;
}

const NUMBERS = [0, -1, 1, 7, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 63), 1.5, 1e308, -1e-9];
const STRINGS = ['', 'x', 'true', '0', '-1', '/', '..', '../../..', '/proc/self', 'rootfs', 'a'.repeat(5000), 'a\u0000b', 'é', '*', 'rw', 'bind',
  'SCMP_ACT_ALLOW', 'RLIMIT_NOFILE', 'CAP_SYS_ADMIN', 'user', 'mount', 'tmpfs', 'c', 'b', 'p', 'u', '/dev/null', '/tmp/../etc', 'nosuid,nodev'];

/** Values a field may be given: scalars of every type, boundary numbers, hostile strings, empty containers. */
function randomValue(r: () => number, depth = 0): Json {
  const k = Math.floor(r() * 9);
  if (k === 0) return null;
  if (k === 1) return r() < 0.5;
  if (k <= 3) return NUMBERS[Math.floor(r() * NUMBERS.length)];
  if (k <= 6) return STRINGS[Math.floor(r() * STRINGS.length)];
  if (k === 7) return depth > 1 ? [] : [randomValue(r, depth + 1)];
  return depth > 1 ? {} : { [STRINGS[Math.floor(r() * 10)] || 'k']: randomValue(r, depth + 1) };
}

function parentOf(root: Json, p: Path): { holder: any; key: string | number } {
  let cur: any = root;
  for (const k of p.slice(0, -1)) cur = cur[k];
  return { holder: cur, key: p[p.length - 1] };
}

/** One to three mutations of a copy of `base`, described for the failure message. */
function mutate(base: Json, r: () => number): { spec: Json; did: string[]; touched: Set<string> } {
  const spec = structuredClone(base);
  const did: string[] = [];
  const touched = new Set<string>();
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    const all = paths(spec);
    if (!all.length) break;
    const p = all[Math.floor(r() * all.length)];
    const { holder, key } = parentOf(spec, p);
    const where = p.join('.');
    for (const seg of p) if (typeof seg === 'string') touched.add(seg);
    const op = Math.floor(r() * 6);
    if (op === 0) {
      if (Array.isArray(holder)) holder.splice(key as number, 1); else delete holder[key];
      did.push(`delete ${where}`);
    } else if (op === 1 && typeof holder[key] === 'string') {
      const s = holder[key] as string;
      const v = [s + s, s.slice(0, Math.floor(s.length / 2)), `${s}/..`, `../${s}`, s.toUpperCase(), `${s}\u0000`][Math.floor(r() * 6)];
      holder[key] = v;
      did.push(`${where} = ${JSON.stringify(v).slice(0, 40)}`);
    } else if (op === 2 && Array.isArray(holder[key])) {
      const a = holder[key] as Json[];
      if (a.length && r() < 0.5) a.push(structuredClone(a[Math.floor(r() * a.length)])); else a.length = 0;
      did.push(`${where} resized to ${a.length}`);
    } else if (op === 3 && holder[key] && typeof holder[key] === 'object' && !Array.isArray(holder[key])) {
      const name = ['extra', 'x-fuzz', '', 'path', 'type', 'options', 'limit'][Math.floor(r() * 7)];
      const v = randomValue(r);
      (holder[key] as Record<string, Json>)[name] = v;
      touched.add(name);
      did.push(`${where}.${name} = ${JSON.stringify(v).slice(0, 40)}`);
    } else {
      const v = randomValue(r);
      holder[key] = v;
      did.push(`${where} = ${JSON.stringify(v).slice(0, 40)}`);
    }
  }
  return { spec, did, touched };
}

interface Run { code: number | null; stdout: string; stderr: string; timedOut: boolean }
/** Through files, not pipes (a created container holds the caller's stdio), killed after 10 s. */
async function runa(args: string[]): Promise<Run> {
  const r = await sb.run(args, { timeoutMs: TIMEOUT_MS });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.signal === 'SIGKILL' };
}

/** What a clear error is not: a JavaScript error escaping, a stack, an internal failure. */
const UNCLEAR = /\n\s+at |TypeError|ReferenceError|RangeError|SyntaxError: (?!config)|Cannot read prop|is not a function|undefined is not|\bundefined\b|\[object Object\]|internal error|panic/;

const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

test(`config.json fuzzing: ${CASES} mutated configs (seed ${SEED}) each end in a whole container or a clear error naming the field`, { timeout: 60 * 60_000 }, async (t) => {
  const bases = baseConfigs(await sb.rootfs());
  fs.chmodSync(sb.dir, 0o711); // the validation kind's user namespace must reach the rootfs
  // Each base must work as it is: the fuzzer mutates working configs.
  for (const b of bases) {
    const bundle = path.join(sb.dir, `base-${b.name.replace(/\W/g, '')}`);
    fs.mkdirSync(bundle);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(b.spec));
    const r = await runa(['run', '--bundle', bundle, `fz-base-${bundle.length}`]);
    assert.equal(r.code, 0, `${b.name}: ${r.stderr}`);
  }
  const daemon = sb.daemonPid()!;
  const rssBefore = rss(daemon);
  // V8 sizes its heap to the load first: growth is measured from a quarter of the way in.
  let rssWarm = rssBefore;
  const problems: string[] = [];
  const tally = { created: 0, refused: 0, fieldNamed: 0, other: 0 };
  const rand = prng(SEED);
  // The cases are drawn up front, in order, so that the seed alone replays them.
  const cases = Array.from({ length: CASES }, (_, i) => ({ i, base: bases[i % bases.length], ...mutate(bases[i % bases.length].spec, rand) }));
  let next = 0;
  const worker = async (w: number) => {
    const bundle = path.join(sb.dir, `case-${w}`);
    fs.mkdirSync(bundle);
    while (next < cases.length && problems.length < 10) {
      const c = cases[next++];
      const id = `fz${w}-${c.i}`;
      const what = `case ${c.i} (${c.base.name}: ${c.did.join('; ')})`;
      // podman's cgroup is per container: so is each case's.
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(c.spec).replace('"/libpod_parent/libpod-fz"', `"/libpod_parent/libpod-${id}"`));
      const r = await runa(['create', '--bundle', bundle, id]);
      if (r.timedOut) { problems.push(`${what}: create hung over ${TIMEOUT_MS / 1000} s`); continue; }
      if (r.code === 0) {
        tally.created++;
        const st = await runa(['state', id]);
        // Created, or already stopped: an init that died before its start (a seccomp profile
        // that refuses what it needs) is a whole container too, as runc's would be.
        if (!/"status": "(created|stopped)"/.test(st.stdout)) problems.push(`${what}: created, but its state is ${st.stdout || st.stderr}`);
        const d = await runa(['delete', '--force', id]);
        if (d.code !== 0) problems.push(`${what}: delete failed: ${d.stderr}`);
      } else {
        tally.refused++;
        const msg = r.stderr.trim();
        if (!msg || UNCLEAR.test(msg) || msg.split('\n').length > 3) problems.push(`${what}: an unclear error (status ${r.code}): ${JSON.stringify(msg.slice(0, 400))}`);
        else if (msg.includes('config.json')) {
          // A refusal of the config names the field: one of the keys the mutations went through.
          if ([...c.touched].some((k) => k && msg.includes(k))) tally.fieldNamed++;
          else { tally.other++; if (process.env.RUNA_FUZZ_SHOW) console.error(`OTHER ${what}: ${msg}`); }
        } else { tally.other++; if (process.env.RUNA_FUZZ_SHOW) console.error(`OTHER ${what}: ${msg}`); }
        // As if never attempted: no state dir, no cgroup.
        if (fs.existsSync(path.join(sb.root, id))) problems.push(`${what}: a refused create left its state dir`);
      }
      if (!alive(daemon)) { problems.push(`${what}: the daemon died`); break; }
      if (c.i === Math.floor(CASES / 4)) rssWarm = rss(daemon);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  if (!BLKIO_WEIGHT) t.diagnostic('this host cannot apply a block I/O weight (no BFQ or CFQ scheduler): the validation config goes without one');
  t.diagnostic(`${CASES} cases: ${tally.created} created and deleted, ${tally.refused} refused (${tally.fieldNamed} naming a mutated field in config.json's words, ${tally.other} from a later step: a mount, a hook, the kernel)`);
  assert.deepEqual(problems, []);
  assert.equal(alive(daemon), true, 'the daemon lived through it all');
  const grown = rss(daemon) - rssWarm;
  t.diagnostic(`daemon RSS ${rssBefore} kB at start, ${rssWarm} kB a quarter of the way in, ${rss(daemon)} kB at the end`);
  assert.ok(grown < 48 * 1024, `the daemon's memory stays bounded (grew by ${grown} kB after the first quarter)`);
  // Nothing left: no container, no cgroup, no mount, no process.
  assert.equal((await runa(['list', '-q'])).stdout, '');
  assert.deepEqual([...cgroupChildren('/runa'), ...cgroupChildren('/libpod_parent')].filter((d) => /fz\d-\d+$/.test(d)), [], 'no cgroup directory left');
  assert.deepEqual(sb.mountsLeft(), [], 'no mount left');
});
