// runa on a pure cgroup v2 machine: a qemu guest (test/helpers/v2-guest.ts) booted once, in
// which a shell script drives the package's own front end (native/runa, at its real path,
// seen through 9p) against busybox bundles built here on the host. Each case is a function of
// the guest script that prints KEY=value lines; the tests below assert them. Node.js is 5–30×
// slower in the guest (TCG), so nothing of the node test runner runs there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { APPLETS, BUSYBOX, IMAGE, busyboxMissing, writeBusyboxImage } from './helpers/oci-image.js';
import { guestLeftovers, guestMissing, guestTempDir, runInGuest, type GuestResult } from './helpers/v2-guest.js';
import { GuestValues } from './helpers/guest-values.js';
import { runaBin, repo } from './helpers/runa.js';
import { defaultSpec, rootlessSpec } from '../src/oci/default-spec.js';

const MiB = 1024 * 1024;
/** Where the guest keeps runa's state: its own tmpfs. */
const ROOT = '/run/runa-test';
/**
 * podman and containerd (ctr) in the guest too: about 15 s each under TCG (their start-up in
 * Go, the image load, conmon and the shim); RUNA_V2_GUEST_CALLERS=0 leaves them out.
 */
const CALLERS = process.env.RUNA_V2_GUEST_CALLERS !== '0';
/** The guest's unprivileged user for the rootless case (made there; the host never sees it). */
const RL_UID = 1500;

const missing = busyboxMissing() ?? guestMissing();

if (missing) {
  test('runa on a pure cgroup v2 machine (qemu guest)', { skip: `the v2 guest: ${missing}` }, () => {});
} else {
  suite();
}

function suite(): void {
  let dir = '';
  let guest: GuestResult | null = null;
  const printed = new GuestValues();

  /** A value the guest script printed (KEY=value); fails with the guest's output when absent. */
  const get = (key: string): string => printed.get(key);

  before(async () => {
    // Under /var/tmp: the guest sees it through its overlay (its /tmp is its own).
    dir = guestTempDir('test');
    const rootfs = path.join(dir, 'rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
    fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of APPLETS) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
    fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\n');
    const bundle = (name: string, args: string[], edit?: (s: any) => void): void => {
      const spec: any = defaultSpec();
      spec.root.path = rootfs;
      spec.process.args = args;
      spec.process.terminal = false;
      edit?.(spec);
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, 'config.json'), JSON.stringify(spec, null, 2));
    };
    const limits = (s: any) => {
      s.linux.resources = {
        ...s.linux.resources, memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 128 * MiB }, pids: { limit: 50 },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' }, blockIO: { weight: 500 },
        unified: { 'memory.high': String(48 * MiB) },
      };
    };
    // runc's default spec: a cgroup namespace and a read-only `cgroup` mount at /sys/fs/cgroup.
    bundle('limits', ['sleep', '1000'], limits);
    bundle('nocgns', ['sleep', '1000'], (s) => {
      limits(s);
      s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'cgroup');
    });
    bundle('rw', ['sh', '-c', 'grep " /sys/fs/cgroup " /proc/self/mountinfo'], (s) => {
      const m = s.mounts.find((x: any) => x.type === 'cgroup');
      m.options = m.options.filter((o: string) => o !== 'ro').concat('rw');
    });
    bundle('status', ['sh', '-c', 'cat /proc/self/cgroup; exit 3']);
    // Docker and podman grant CAP_MKNOD: only the device rules stand between it and the host's devices.
    bundle('devs', ['sleep', '1000'], (s) => {
      for (const set of ['bounding', 'effective', 'permitted']) s.process.capabilities[set].push('CAP_MKNOD');
    });
    // Every linux.resources field v2 has, and those it ignores (swappiness, kernel memory).
    bundle('res', ['sleep', '1000'], (s) => {
      s.linux.resources = {
        ...s.linux.resources, memory: { limit: 64 * MiB, swappiness: 60, kernelTCP: 16 * MiB },
        cpu: { quota: 50000, period: 100000, burst: 20000, idle: 1 }, hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }],
        blockIO: { leafWeight: 300 },
      };
    });
    // What the guest cannot take: refused, leaving nothing (rdma is cgroup_disable'd at boot).
    bundle('rdma', ['true'], (s) => { s.linux.resources = { ...s.linux.resources, pids: { limit: 10 }, rdma: { mlx5_0: { hcaHandles: 3 } } }; });
    bundle('unirdma', ['true'], (s) => { s.linux.resources = { ...s.linux.resources, pids: { limit: 10 }, unified: { 'rdma.max': 'mlx5_0 hca_handle=2' } }; });
    bundle('rt', ['true'], (s) => { s.linux.resources = { ...s.linux.resources, pids: { limit: 10 }, cpu: { realtimeRuntime: 1000, realtimePeriod: 100000 } }; });
    bundle('oom', ['sleep', '1000'], (s) => { s.linux.resources = { ...s.linux.resources, memory: { limit: 16 * MiB, swap: 16 * MiB } }; });
    bundle('pre', ['sleep', '1000'], (s) => { s.linux.cgroupsPath = '/pre'; });
    bundle('frz', ['true'], (s) => { s.linux.cgroupsPath = '/frz'; });
    bundle('ka', ['sh', '-c', 'sleep 1000 & sleep 1000 & exec sleep 1000']);
    // pids.max 0: the init is cloned into its cgroup (clone3 CLONE_INTO_CGROUP), which the limit refuses (EAGAIN): nsinit forks and writes it in.
    bundle('pids0', ['sh', '-c', 'echo started; /bin/true; echo after'], (s) => { s.linux.resources = { ...s.linux.resources, pids: { limit: 0 } }; });
    // Rootless: uid 1500 of the guest, mapped to root in a user namespace of its own id.
    {
      const spec: any = rootlessSpec(RL_UID, RL_UID);
      spec.root.path = rootfs;
      spec.process.args = ['sleep', '1000'];
      spec.process.terminal = false;
      spec.linux.resources = { pids: { limit: 20 }, memory: { limit: 32 * MiB } };
      fs.mkdirSync(path.join(dir, 'rootless'));
      fs.writeFileSync(path.join(dir, 'rootless', 'config.json'), JSON.stringify(spec, null, 2));
    }
    if (CALLERS) writeBusyboxImage(path.join(dir, 'busybox.tar'));
    fs.writeFileSync(path.join(dir, 'guest.sh'), guestScript(dir));
    try {
      guest = await runInGuest(`exec sh ${path.join(dir, 'guest.sh')}\n`, { timeoutMs: CALLERS ? 600_000 : 240_000, kernelArgs: ['cgroup_disable=rdma'], env: { RUNA_V2_GUEST_CALLERS: CALLERS ? '1' : '0' } });
    } catch (e) {
      printed.failed(e as Error);
      return;
    }
    printed.ran(guest);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (guest) {
      const times = [...printed.values].filter(([k]) => k.startsWith('TIME_')).map(([k, v]) => `${k.slice(5).toLowerCase()} ${v}`).join(', ');
      if (process.env.RUNA_V2_GUEST_DUMP === '1') console.log(`# the guest's output:\n${guest.stdout}\n# its stderr:\n${guest.stderr}`);
      console.log(`# v2 guest: ${guest.accel}, ${guest.ms} ms from qemu's start to its end; guest uptime per case (s): ${times}`);
    }
  });

  test('the guest is pure cgroup v2 and runa detects v2', () => {
    assert.equal(get('DONE'), 'yes', 'the guest script ran to its end');
    assert.equal(get('V1_MOUNTS'), '0', 'no cgroup v1 hierarchy is mounted');
    assert.equal(get('V2_MOUNTS'), '1', 'one cgroup2 mount');
    assert.equal(get('V2_AT'), '/sys/fs/cgroup');
    assert.match(get('CONTROLLERS'), /\bmemory\b.*\bpids\b/);
    assert.equal(get('RUNA_MODE'), 'v2');
    assert.deepEqual(guestLeftovers(), [], 'no qemu process or per-run dir is left');
  });

  test('run with limits: memory.max, pids.max, cpu.weight (runc\'s conversion of shares) and cpu.max are set', () => {
    assert.equal(get('LIMITS_RUN'), '0');
    assert.equal(get('LIMITS_MEMORY_MAX'), String(64 * MiB));
    assert.equal(get('LIMITS_PIDS_MAX'), '50');
    // runc ≥ 1.3 (and crun): shares 512 → weight 59 on its quadratic curve (1.1's linear one gave 20).
    assert.equal(get('LIMITS_CPU_WEIGHT'), '59');
    assert.equal(get('LIMITS_CPU_MAX'), '50000 100000');
    assert.equal(get('LIMITS_MEMORY_LOW'), String(32 * MiB), 'memory.reservation');
    assert.equal(get('LIMITS_SWAP_MAX'), String(64 * MiB), 'memory.swap is memory+swap: swap.max is the difference (runc)');
    assert.equal(get('LIMITS_MEMORY_HIGH'), String(48 * MiB), 'linux.resources.unified');
    assert.equal(get('LIMITS_CPUSET'), '0 0');
    assert.equal(get('LIMITS_IO_WEIGHT'), 'default 4950', 'blkio weight 500 on io.weight\'s scale (runc: 1 + (w - 10) * 9999 / 990)');
    assert.equal(get('LIMITS_INIT_IN_CGROUP'), 'yes', 'the init is in the container\'s cgroup');
    assert.equal(get('LIMITS_MONITOR_IN_CGROUP'), 'no', 'the monitor is not (a frozen monitor could not serve kill -9)');
  });

  test('the init and an exec\'d process are created in the container\'s cgroup (the plan\'s fork carries it), with no cgroup.procs write in either plan', () => {
    assert.equal(get('CLONE_PLAN_FORK'), 'fork /sys/fs/cgroup/runa/limits 1', 'the clone makes the pid namespace too');
    assert.equal(get('CLONE_PLAN_WRITES'), '0');
    assert.equal(get('CLONE_EXEC_RC'), '0');
    assert.equal(get('CLONE_EXEC_IN_CGROUP'), 'yes');
    assert.equal(get('CLONE_EXEC_PLAN_FORK'), 'fork-sibling /sys/fs/cgroup/runa/limits 0', 'exec --pid-file: the caller\'s child, in the init\'s pid namespace');
    assert.equal(get('CLONE_EXEC_PLAN_WRITES'), '0');
  });

  test('pids.limit 0: the init starts (the clone the limit refuses falls back to a fork and a write, which it does not), its own fork fails', () => {
    assert.equal(get('PIDS0_STARTED'), '1', get('PIDS0_OUT'));
    assert.equal(get('PIDS0_AFTER'), '0');
    assert.match(get('PIDS0_FORK'), /fork/i);
    assert.equal(get('PIDS0_LEFT'), 'no');
  });

  test('/proc/self/cgroup is 0::/ in the container\'s cgroup namespace, for the init and an exec\'d process (runc)', () => {
    assert.equal(get('CG_INIT'), '0::/');
    assert.equal(get('CG_EXEC'), '0::/');
    assert.equal(get('CG_EXEC_RC'), '0');
    // In the host's cgroup namespace the path is the host's.
    assert.equal(get('NOCGNS_CG_INIT'), '0::/runa/nocgns');
  });

  test('/sys/fs/cgroup in the container is its own cgroup2, read-only unless the mount says rw', () => {
    assert.match(get('MNT_LINE'), / \/sys\/fs\/cgroup ro,[^ ]* - cgroup2 cgroup2 /, 'a fresh read-only cgroup2 mount');
    assert.equal(get('MNT_MEMORY_MAX'), String(64 * MiB));
    assert.equal(get('MNT_PIDS_MAX'), '50');
    assert.equal(get('MNT_WRITE_RC') !== '0', true, 'a write is refused');
    assert.match(get('MNT_WRITE_ERR'), /Read-only file system/);
    // Without a cgroup namespace: a bind of the container's cgroup, read-only too.
    assert.match(get('NOCGNS_MNT_LINE'), / \/sys\/fs\/cgroup ro,[^ ]* - cgroup2 cgroup2 /);
    assert.equal(get('NOCGNS_MNT_MEMORY_MAX'), String(64 * MiB));
    assert.equal(get('NOCGNS_MNT_PIDS_MAX'), '50');
    assert.match(get('RW_MNT_LINE'), / \/sys\/fs\/cgroup rw,[^ ]* - cgroup2 cgroup2 /);
  });

  test('update changes the limits; exec --cgroup puts the process in a sub-cgroup', () => {
    assert.equal(get('UPDATE_RC'), '0');
    assert.equal(get('UPDATE_MEMORY_MAX'), String(96 * MiB));
    assert.equal(get('UPDATE_PIDS_MAX'), '60');
    assert.equal(get('UPDATE_CPU_MAX'), '20000 100000');
    assert.equal(get('EXEC_SUB_CG'), '0::/sub');
    assert.equal(get('EXEC_SUB_IN_SUB'), 'yes');
  });

  test('pause and resume freeze and thaw the cgroup (cgroup.freeze, frozen in cgroup.events)', () => {
    assert.equal(get('PAUSE_RC'), '0');
    assert.equal(get('PAUSE_FREEZE'), '1');
    assert.equal(get('PAUSE_FROZEN'), '1');
    assert.equal(JSON.parse(get('PAUSE_STATE')).status, 'paused');
    assert.equal(get('RESUME_RC'), '0');
    assert.equal(get('RESUME_FREEZE'), '0');
    assert.equal(get('RESUME_FROZEN'), '0');
    assert.equal(JSON.parse(get('RESUME_STATE')).status, 'running');
  });

  test('events --stats gives the cgroup\'s numbers', () => {
    assert.equal(get('STATS_RC'), '0');
    const s = JSON.parse(get('STATS'));
    assert.equal(s.type, 'stats');
    assert.equal(s.id, 'limits');
    assert.ok(s.data.cpu.usage.total > 0, 'cpu usage');
    assert.ok(s.data.memory.usage.usage > 0, 'memory usage');
    assert.equal(s.data.memory.usage.limit, 96 * MiB, 'the limit as updated');
    assert.ok(s.data.pids.current >= 1, 'pids');
    assert.equal(s.data.pids.limit, 60);
  });

  test('device rules are an eBPF program on the container\'s cgroup: a host device made with CAP_MKNOD cannot be opened; update replaces the program', () => {
    assert.equal(get('DEV_RUN'), '0');
    assert.equal(get('DEV_PROGS'), '1', 'one device program attached');
    assert.equal(get('DEV_NULL'), 'ok');
    assert.equal(get('DEV_MKNOD'), 'made', 'mknod is allowed (runc\'s c *:* m), opening is not');
    assert.match(get('DEV_OPEN_DENIED'), /Operation not permitted/);
    assert.equal(get('DEV_UPDATE_RC'), '0');
    assert.equal(get('DEV_PROGS_AFTER'), '1', 'the old program replaced, not added to');
    assert.doesNotMatch(get('DEV_OPEN_AFTER'), /Operation not permitted/, 'allowed now: any other answer (no such device without the fuse module)');
    assert.match(get('DEV_HOLE'), /punch a hole/);
    assert.doesNotMatch(get('DEV_OPEN_STILL'), /Operation not permitted/, 'a refused update changes nothing');
    assert.equal(get('DEV_DELETE_RC'), '0');
  });

  test('every linux.resources field of v2, seen on the host and inside: cpu burst and idle, hugetlb; swappiness and kernel memory ignored (runc)', () => {
    assert.equal(get('RES_RUN'), '0', get('RES_ERR'));
    assert.match(get('RES_IGNORED'), /memory\.swappiness: ignored/, 'said at warning level');
    assert.match(get('RES_IGNORED_KTCP'), /memory\.kernelTCP: ignored/);
    assert.match(get('RES_IGNORED_LEAF'), /blockIO\.leafWeight: ignored/);
    assert.equal(get('RES_SWAPPINESS_FILES'), '0', 'no such knob on v2');
    const want = `${64 * MiB} 50000 100000 20000 1`;
    assert.equal(get('RES_HOST'), want, 'memory.max, cpu.max, cpu.max.burst, cpu.idle');
    assert.equal(get('RES_INSIDE'), want, 'the same through the container\'s /sys/fs/cgroup');
    if (get('HUGE_2MB') === 'yes') {
      assert.equal(get('RES_HUGE'), `${4 * MiB} ${4 * MiB}`, 'hugetlb.2MB.max and .rsvd.max');
      assert.equal(get('RES_HUGE_INSIDE'), String(4 * MiB));
    }
  });

  test('memory.checkBeforeUpdate: an update below the usage is refused in runc\'s words and changes nothing; above it is applied', () => {
    assert.ok(Number(get('CBU_USAGE')) > 20 * MiB, 'the container holds 20 MiB in its /dev/shm');
    assert.notEqual(get('CBU_REFUSED_RC'), '0');
    assert.match(get('CBU_REFUSED'), new RegExp(`rejecting memory limit ${8 * MiB} <= usage \\d+`));
    assert.equal(get('CBU_MAX'), String(64 * MiB), 'unchanged');
    assert.equal(get('CBU_OK_RC'), '0');
    assert.equal(get('CBU_MAX_AFTER'), String(48 * MiB));
    assert.equal(get('RES_DELETE_RC'), '0');
  });

  test('what the guest cannot take is refused before anything is made: an absent controller (rdma), unified keys of it, realtime cpu', () => {
    assert.match(get('CONTROLLERS_AVAILABLE'), /^(?!.*\brdma\b)/, 'cgroup_disable=rdma took');
    assert.equal(get('REFUSE_RDMA_RC'), '1');
    assert.match(get('REFUSE_RDMA_ERR'), /linux\.resources\.rdma: cannot apply: controller "rdma" not available/);
    assert.equal(get('REFUSE_UNIRDMA_RC'), '1');
    assert.match(get('REFUSE_UNIRDMA_ERR'), /linux\.resources\.unified\["rdma\.max"\]: unified resource "rdma\.max" can't be set: controller "rdma" not available/);
    assert.equal(get('REFUSE_RT_RC'), '1');
    assert.match(get('REFUSE_RT_ERR'), /linux\.resources\.cpu\.realtimeRuntime: cannot apply: cpu\.rt_runtime_us is cgroup v1's/);
    for (const k of ['RDMA', 'UNIRDMA', 'RT']) assert.equal(get(`REFUSE_${k}_LEFT`), 'cgroup:no state:no list:', `${k}: no cgroup, no state dir, not listed`);
  });

  test('OOM: the kernel kills in the container, events reports {"type":"oom"}, events --stats gives exact integers', () => {
    assert.equal(get('OOM_RUN'), '0');
    assert.equal(get('OOM_EXEC_RC'), '137', 'the allocating process got SIGKILL');
    assert.deepEqual(JSON.parse(get('OOM_EVENT')), { type: 'oom', id: 'oom' });
    assert.ok(Number(get('OOM_KILLS')) >= 1, 'memory.events oom_kill on the host');
    assert.equal(get('OOM_KILLS_INSIDE'), get('OOM_KILLS'), 'the same count inside');
    const raw = get('OOM_STATS');
    assert.doesNotMatch(raw, /\d[.eE][-+\d]/, 'no number printed as a float');
    const st = JSON.parse(raw);
    assert.equal(st.data.memory.usage.limit, 16 * MiB);
    assert.equal(st.data.memory.swap.limit, 16 * MiB, 'memory+swap: spec swap 16 MiB = memory alone, so memory.swap.max 0 (runc)');
    for (const [k, v] of Object.entries(st.data.memory.raw)) assert.ok(Number.isSafeInteger(v), `memory.raw.${k} ${v}`);
    assert.match(get('RES_STATS_SWAP'), /"swap":\{"limit":18446744073709551615,/, 'an unlimited swap is 2^64-1 exactly (runc), not rounded');
    assert.equal(get('OOM_DELETE_RC'), '0');
  });

  test('a pre-existing cgroup: a non-empty one gets runc\'s warning and is left in place with its process; a frozen one is refused', () => {
    assert.equal(get('PRE_RUN'), '0');
    assert.match(get('PRE_WARN'), /container's cgroup is not empty: 1 process\(es\) found \(\/pre\)/);
    assert.equal(get('PRE_INIT_IN'), 'yes');
    assert.equal(get('PRE_INSIDE'), '0::/');
    assert.equal(get('PRE_DELETE_RC'), '0');
    assert.equal(get('PRE_LEFT'), 'yes', 'delete leaves the cgroup it did not make');
    assert.equal(get('PRE_OTHER'), 'alive', 'and the process that was there');
    assert.notEqual(get('FRZ_RC'), '0');
    assert.match(get('FRZ_ERR'), /container's cgroup unexpectedly frozen \(\/frz\)/);
    assert.equal(get('FRZ_LEFT'), 'children:0 frozen:1 list:', 'nothing made in it, still frozen, no container');
  });

  test('kill --all KILL is cgroup.kill: every process in the cgroup goes, one that is not in the container\'s pid namespace too', () => {
    assert.equal(get('KA_RUN'), '0');
    assert.equal(get('KA_HAS_KILL'), 'yes', 'the kernel has cgroup.kill');
    assert.equal(get('KA_BEFORE'), '4', 'three of the container\'s and one moved in from outside');
    assert.equal(get('KA_RC'), '0');
    assert.equal(get('KA_AFTER'), '0');
    assert.equal(get('KA_OUTSIDER'), '137', 'killed by SIGKILL');
    assert.equal(get('KA_DELETE_RC'), '0');
  });

  test('rootless in a delegated subtree (systemd user@.service style): the limits are applied there', () => {
    assert.equal(get('RL_RUN'), '0', `${get('RL_ERR')}; the daemon's log: ${get('RL_DAEMON_LOG')}`);
    assert.equal(get('RL_CG'), '0::/user.slice/user@1500.service/runa/rl', 'beside the caller\'s cgroup, in the delegated one (runc\'s fs2)');
    assert.equal(get('RL_HOST'), `20 ${32 * MiB}`, 'pids.max and memory.max');
    assert.equal(get('RL_INSIDE'), `20 ${32 * MiB}`);
    assert.equal(get('RL_UIDS'), '0 1500', 'root in the container, uid 1500 on the host');
    assert.match(get('RL_FORK'), /can't fork|Resource temporarily unavailable/, 'pids.max holds');
    assert.equal(get('RL_DELETE_RC'), '0');
    assert.equal(get('RL_LEFT'), 'no');
  });

  const callers = { skip: CALLERS ? false : 'RUNA_V2_GUEST_CALLERS=0 leaves podman and containerd out' };

  test('podman --runtime runa --cgroup-manager cgroupfs: run, exec, stop; the limits inside and on the host', callers, () => {
    assert.equal(get('POD_LOAD'), '0', get('POD_LOAD_ERR'));
    assert.equal(get('POD_RUN'), String(64 * MiB), get('POD_RUN_ERR'));
    assert.equal(get('POD_D_RC'), '0', get('POD_D_ERR'));
    assert.equal(get('POD_EXEC'), `${48 * MiB} 30`, 'memory.max and pids.max inside');
    assert.equal(get('POD_HOST'), `${48 * MiB} 30`, 'and in the guest\'s /sys/fs/cgroup');
    assert.equal(get('POD_STOP_RC'), '0');
    assert.equal(get('POD_RM_RC'), '0');
    assert.equal(get('POD_LEFT'), '', 'no runa state left');
  });

  test('ctr run (containerd\'s runc shim driving runa): run, exec, kill; the limit inside and on the host', callers, () => {
    assert.equal(get('CTRD_UP'), 'yes', get('CTRD_LOG'));
    assert.equal(get('CTRD_IMPORT'), '0', get('CTRD_IMPORT_ERR'));
    assert.equal(get('CTRD_RUN'), '0', get('CTRD_RUN_ERR'));
    assert.equal(get('CTRD_EXEC'), String(40 * MiB));
    assert.equal(get('CTRD_HOST'), String(40 * MiB));
    assert.equal(get('CTRD_KILL_RC'), '0');
    assert.match(get('CTRD_STATUS'), /STOPPED|^$/);
    assert.equal(get('CTRD_DELETE_RC'), '0');
  });

  test('kill and delete leave no cgroup behind; a foreground run exits with the program\'s status', () => {
    assert.equal(get('KILL_RC'), '0');
    assert.equal(JSON.parse(get('KILLED_STATE')).status, 'stopped');
    assert.equal(get('DELETE_RC'), '0');
    assert.equal(get('DELETE_CGROUP_LEFT'), 'no');
    assert.equal(get('STATUS_RC'), '3');
    assert.equal(get('STATUS_CG'), '0::/');
    assert.equal(get('LEFT_CGROUPS'), '', 'no cgroup left under /sys/fs/cgroup/runa');
    assert.equal(get('LEFT_CONTAINERS'), '', 'runa list is empty');
  });
}

/**
 * The guest's script: one function per case, each printing KEY=value lines (a value is one
 * line). Runs with `set -u`, not `-e`: a failing command is a value to assert, not the end.
 */
function guestScript(dir: string): string {
  return `set -u
RUNA="${runaBin} --root ${ROOT}"
B=${dir}
export RUNA_DAEMON_IDLE_MS=600000
say() { printf '%s=%s\\n' "$1" "$(printf '%s' "$2" | head -n 1)"; }
cg() { echo /sys/fs/cgroup/runa/$1; }

case_pure_v2() {
  say V1_MOUNTS "$(grep -c ' - cgroup ' /proc/self/mountinfo)"
  say V2_MOUNTS "$(grep -c ' - cgroup2 ' /proc/self/mountinfo)"
  say V2_AT "$(grep ' - cgroup2 ' /proc/self/mountinfo | cut -d' ' -f5)"
  say CONTROLLERS "$(cat /sys/fs/cgroup/cgroup.subtree_control)"
  say RUNA_MODE "$(node -e "import('${repo}/dist/src/cgroups/detect.js').then((m) => console.log(m.detectCgroups().mode))" 2>&1)"
}

case_limits() {
  cd $B/limits
  $RUNA run -d limits > /dev/null 2>&1 < /dev/null; say LIMITS_RUN $?
  d=$(cg limits)
  say LIMITS_MEMORY_MAX "$(cat $d/memory.max)"
  say LIMITS_PIDS_MAX "$(cat $d/pids.max)"
  say LIMITS_CPU_WEIGHT "$(cat $d/cpu.weight)"
  say LIMITS_CPU_MAX "$(cat $d/cpu.max)"
  say LIMITS_MEMORY_LOW "$(cat $d/memory.low)"
  say LIMITS_SWAP_MAX "$(cat $d/memory.swap.max)"
  say LIMITS_MEMORY_HIGH "$(cat $d/memory.high)"
  say LIMITS_CPUSET "$(cat $d/cpuset.cpus) $(cat $d/cpuset.mems)"
  say LIMITS_IO_WEIGHT "$(cat $d/io.weight)"
  pid=$($RUNA state limits | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
  grep -qx "$pid" $d/cgroup.procs && say LIMITS_INIT_IN_CGROUP yes || say LIMITS_INIT_IN_CGROUP no
  mon=$(cut -d' ' -f4 /proc/$pid/stat)
  grep -qx "$mon" $d/cgroup.procs && say LIMITS_MONITOR_IN_CGROUP yes || say LIMITS_MONITOR_IN_CGROUP no
}

# The plans nsinit ran: the fork op and its two arguments (the cgroup it clones into, whether it makes the pid namespace), and how many cgroup.procs writes.
plan_fork() { tr '\\0' '\\n' < "$1" | grep -x -A2 -E 'fork|fork-sibling' | head -n 3 | tr '\\n' ' ' | sed 's/ $//'; }
plan_writes() { tr '\\0' '\\n' < "$1" | grep -c 'cgroup\\.procs$'; }

case_clone() {
  d=$(cg limits)
  say CLONE_PLAN_FORK "$(plan_fork ${ROOT}/limits/plan)"
  say CLONE_PLAN_WRITES "$(plan_writes ${ROOT}/limits/plan)"
  $RUNA exec -d --pid-file /run/clone-exec.pid limits sleep 1000 < /dev/null > /dev/null 2>&1; say CLONE_EXEC_RC $?
  pid=$(cat /run/clone-exec.pid)
  grep -qx "$pid" $d/cgroup.procs && say CLONE_EXEC_IN_CGROUP yes || say CLONE_EXEC_IN_CGROUP no
  say CLONE_EXEC_PLAN_FORK "$(plan_fork ${ROOT}/limits/exec/*/plan)"
  say CLONE_EXEC_PLAN_WRITES "$(plan_writes ${ROOT}/limits/exec/*/plan)"
  kill -9 $pid
  cd $B/pids0
  out=$($RUNA run pids0 2>&1 < /dev/null)
  say PIDS0_OUT "$(printf '%s' "$out" | tr '\\n' '|')"
  say PIDS0_STARTED "$(printf '%s\\n' "$out" | grep -cx started)"
  say PIDS0_AFTER "$(printf '%s\\n' "$out" | grep -c after)"
  say PIDS0_FORK "$(printf '%s\\n' "$out" | grep -i fork)"
  $RUNA delete -f pids0 > /dev/null 2>&1
  [ -e $(cg pids0) ] && say PIDS0_LEFT yes || say PIDS0_LEFT no
}

case_cgroupns() {
  say CG_INIT "$($RUNA exec limits cat /proc/1/cgroup 2>&1)"
  out=$($RUNA exec limits cat /proc/self/cgroup 2>&1); rc=$?
  say CG_EXEC "$out"; say CG_EXEC_RC $rc
}

case_cgroup_mount() {
  say MNT_LINE "$($RUNA exec limits grep ' /sys/fs/cgroup ' /proc/self/mountinfo 2>&1)"
  say MNT_MEMORY_MAX "$($RUNA exec limits cat /sys/fs/cgroup/memory.max 2>&1)"
  say MNT_PIDS_MAX "$($RUNA exec limits cat /sys/fs/cgroup/pids.max 2>&1)"
  err=$($RUNA exec limits sh -c 'echo 10 > /sys/fs/cgroup/pids.max' 2>&1); rc=$?
  say MNT_WRITE_RC $rc; say MNT_WRITE_ERR "$err"
  cd $B/nocgns
  $RUNA run -d nocgns > /dev/null 2>&1 < /dev/null
  say NOCGNS_CG_INIT "$($RUNA exec nocgns cat /proc/1/cgroup 2>&1)"
  say NOCGNS_MNT_LINE "$($RUNA exec nocgns grep ' /sys/fs/cgroup ' /proc/self/mountinfo 2>&1)"
  say NOCGNS_MNT_MEMORY_MAX "$($RUNA exec nocgns cat /sys/fs/cgroup/memory.max 2>&1)"
  say NOCGNS_MNT_PIDS_MAX "$($RUNA exec nocgns cat /sys/fs/cgroup/pids.max 2>&1)"
  $RUNA delete -f nocgns > /dev/null 2>&1
  cd $B/rw
  say RW_MNT_LINE "$($RUNA run rw 2>&1 < /dev/null)"
  $RUNA delete -f rw > /dev/null 2>&1
}

case_pause() {
  d=$(cg limits)
  $RUNA pause limits; say PAUSE_RC $?
  say PAUSE_FREEZE "$(cat $d/cgroup.freeze)"
  say PAUSE_FROZEN "$(sed -n 's/^frozen //p' $d/cgroup.events)"
  say PAUSE_STATE "$($RUNA state limits | tr -d '\\n')"
  $RUNA resume limits; say RESUME_RC $?
  say RESUME_FREEZE "$(cat $d/cgroup.freeze)"
  say RESUME_FROZEN "$(sed -n 's/^frozen //p' $d/cgroup.events)"
  say RESUME_STATE "$($RUNA state limits | tr -d '\\n')"
}

case_stats() {
  out=$($RUNA events --stats limits 2>&1); rc=$?
  say STATS_RC $rc; say STATS "$(printf '%s' "$out" | tr -d '\\n')"
}

case_update() {
  d=$(cg limits)
  $RUNA update --memory ${96 * 1024 * 1024} --pids-limit 60 --cpu-quota 20000 limits; say UPDATE_RC $?
  say UPDATE_MEMORY_MAX "$(cat $d/memory.max)"
  say UPDATE_PIDS_MAX "$(cat $d/pids.max)"
  say UPDATE_CPU_MAX "$(cat $d/cpu.max)"
  mkdir $d/sub
  say EXEC_SUB_CG "$($RUNA exec --cgroup sub limits sh -c 'cat /proc/self/cgroup; sleep 1' 2>&1 & sleep 0.5; [ -n "$(cat $d/sub/cgroup.procs)" ] && echo yes > /run/in-sub; wait)"
  say EXEC_SUB_IN_SUB "$(cat /run/in-sub 2>/dev/null || echo no)"
  rmdir $d/sub
}

# The eBPF device rules of cgroup v2 (linux.resources.devices): runc's default deny-all, then
# an update that allows one more device, then one the rules refuse.
case_devices() {
  cd $B/devs
  $RUNA run -d devs > /dev/null 2>&1 < /dev/null; say DEV_RUN $?
  say DEV_PROGS "$(${repo}/native/cgroup-bpf query $(cg devs) | wc -l)"
  say DEV_NULL "$($RUNA exec devs sh -c 'echo x > /dev/null && echo ok' 2>&1)"
  say DEV_MKNOD "$($RUNA exec devs sh -c 'mknod /dev/fuse2 c 10 229 && echo made' 2>&1)"
  say DEV_OPEN_DENIED "$($RUNA exec devs sh -c 'cat /dev/fuse2' 2>&1)"
  printf '%s' '{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"}]}' | $RUNA update -r - devs; say DEV_UPDATE_RC $?
  say DEV_PROGS_AFTER "$(${repo}/native/cgroup-bpf query $(cg devs) | wc -l)"
  say DEV_OPEN_AFTER "$($RUNA exec devs sh -c 'cat /dev/fuse2' 2>&1)"
  say DEV_HOLE "$(printf '%s' '{"devices":[{"allow":true,"type":"c","access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]}' | $RUNA update -r - devs 2>&1)"
  say DEV_OPEN_STILL "$($RUNA exec devs sh -c 'cat /dev/fuse2' 2>&1)"
  $RUNA delete -f devs > /dev/null 2>&1; say DEV_DELETE_RC $?
}

case_kill_delete() {
  $RUNA kill limits KILL; say KILL_RC $?
  i=0; while [ $i -lt 100 ] && ! $RUNA state limits 2>/dev/null | grep -q '"stopped"'; do sleep 0.1; i=$((i+1)); done
  say KILLED_STATE "$($RUNA state limits | tr -d '\\n')"
  $RUNA delete limits; say DELETE_RC $?
  [ -e $(cg limits) ] && say DELETE_CGROUP_LEFT yes || say DELETE_CGROUP_LEFT no
  cd $B/status
  out=$($RUNA run status 2>&1 < /dev/null); rc=$?
  say STATUS_RC $rc; say STATUS_CG "$out"
  $RUNA delete -f status > /dev/null 2>&1
  say LEFT_CGROUPS "$(ls /sys/fs/cgroup/runa 2>/dev/null | tr '\\n' ' ')"
  say LEFT_CONTAINERS "$($RUNA list -q 2>&1 | tr '\\n' ' ')"
}

# Every linux.resources field v2 has; memory.checkBeforeUpdate on update.
case_resources() {
  cd $B/res
  $RUNA --debug run -d res < /dev/null > /dev/null 2> /run/res.err; say RES_RUN $?
  say RES_ERR "$(grep -v level=debug /run/res.err | head -n 1)"
  say RES_IGNORED "$(grep -o 'memory.swappiness: ignored[^"]*' /run/res.err)"
  say RES_IGNORED_KTCP "$(grep -o 'memory.kernelTCP: ignored[^"]*' /run/res.err)"
  say RES_IGNORED_LEAF "$(grep -o 'blockIO.leafWeight: ignored[^"]*' /run/res.err)"
  d=$(cg res)
  say RES_SWAPPINESS_FILES "$(ls $d | grep -c swappiness)"
  say RES_HOST "$(cat $d/memory.max $d/cpu.max $d/cpu.max.burst $d/cpu.idle | tr '\\n' ' ' | sed 's/ $//')"
  # one exec for both: memory.max, cpu.max, cpu.max.burst, cpu.idle on its first line, hugetlb.2MB.max on its second
  $RUNA exec res sh -c 'cd /sys/fs/cgroup && echo $(cat memory.max cpu.max cpu.max.burst cpu.idle) && cat hugetlb.2MB.max' > /run/res.inside 2>&1
  say RES_INSIDE "$(sed -n 1p /run/res.inside)"
  say HUGE_2MB "$([ -d /sys/kernel/mm/hugepages/hugepages-2048kB ] && echo yes || echo no)"
  say RES_HUGE "$(cat $d/hugetlb.2MB.max $d/hugetlb.2MB.rsvd.max 2>&1 | tr '\\n' ' ' | sed 's/ $//')"
  say RES_HUGE_INSIDE "$(sed -n 2p /run/res.inside)"
  say RES_STATS_SWAP "$($RUNA events --stats res 2>&1 | tr -d '\n ')"
  # checkBeforeUpdate: 20 MiB in the container's tmpfs, then a limit below and one above it
  $RUNA exec res sh -c 'head -c 20971520 /dev/zero > /dev/shm/fill'
  say CBU_USAGE "$(cat $d/memory.current)"
  out=$(printf '%s' '{"memory":{"limit":8388608,"checkBeforeUpdate":true}}' | $RUNA update -r - res 2>&1); rc=$?
  say CBU_REFUSED_RC $rc; say CBU_REFUSED "$out"
  say CBU_MAX "$(cat $d/memory.max)"
  printf '%s' '{"memory":{"limit":50331648,"checkBeforeUpdate":true}}' | $RUNA update -r - res; say CBU_OK_RC $?
  say CBU_MAX_AFTER "$(cat $d/memory.max)"
  $RUNA delete -f res; say RES_DELETE_RC $?
}

# Refused before anything is made: no cgroup, no state dir, not listed.
case_refused() {
  say CONTROLLERS_AVAILABLE "$(cat /sys/fs/cgroup/cgroup.controllers)"
  for b in rdma unirdma rt; do
    K=$(echo $b | tr a-z A-Z)
    cd $B/$b
    $RUNA run -d $b < /dev/null > /dev/null 2> /run/$b.err; say REFUSE_\${K}_RC $?
    say REFUSE_\${K}_ERR "$(cat /run/$b.err)"
    say REFUSE_\${K}_LEFT "cgroup:$([ -e $(cg $b) ] && echo yes || echo no) state:$([ -e ${ROOT}/$b ] && echo yes || echo no) list:$($RUNA list -q | grep -x $b)"
  done
}

# OOM: a 64 MiB buffer (dd's) in a 16 MiB cgroup without swap.
case_oom() {
  cd $B/oom
  $RUNA run -d oom < /dev/null > /dev/null 2>&1; say OOM_RUN $?
  d=$(cg oom)
  $RUNA events --interval 1s oom > /run/oom.events 2>&1 &
  ev=$!
  i=0; while [ $i -lt 100 ] && ! grep -q '"stats"' /run/oom.events; do sleep 0.1; i=$((i+1)); done
  $RUNA exec oom dd if=/dev/zero of=/dev/null bs=64M count=1 > /dev/null 2>&1; say OOM_EXEC_RC $?
  i=0; while [ $i -lt 100 ] && ! grep -q '"oom"' /run/oom.events; do sleep 0.1; i=$((i+1)); done
  say OOM_EVENT "$(grep '"type":"oom"' /run/oom.events | head -n 1)"
  say OOM_KILLS "$(sed -n 's/^oom_kill //p' $d/memory.events)"
  say OOM_KILLS_INSIDE "$($RUNA exec oom sed -n 's/^oom_kill //p' /sys/fs/cgroup/memory.events 2>&1)"
  say OOM_STATS "$($RUNA events --stats oom 2>&1 | tr -d '\\n')"
  kill $ev; wait $ev
  $RUNA delete -f oom; say OOM_DELETE_RC $?
}

# A cgroup that exists before the container: one with a process in it, one frozen.
case_preexisting() {
  mkdir /sys/fs/cgroup/pre
  sleep 1000 &
  other=$!
  echo $other > /sys/fs/cgroup/pre/cgroup.procs
  cd $B/pre
  $RUNA run -d pre < /dev/null > /dev/null 2> /run/pre.err; say PRE_RUN $?
  say PRE_WARN "$(grep -i warn /run/pre.err)"
  pid=$($RUNA state pre | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
  grep -qx "$pid" /sys/fs/cgroup/pre/cgroup.procs && say PRE_INIT_IN yes || say PRE_INIT_IN no
  say PRE_INSIDE "$($RUNA exec pre cat /proc/self/cgroup 2>&1)"
  $RUNA delete -f pre; say PRE_DELETE_RC $?
  [ -d /sys/fs/cgroup/pre ] && say PRE_LEFT yes || say PRE_LEFT no
  grep -qx $other /sys/fs/cgroup/pre/cgroup.procs && say PRE_OTHER alive || say PRE_OTHER gone
  kill $other; wait $other 2>/dev/null; rmdir /sys/fs/cgroup/pre
  mkdir /sys/fs/cgroup/frz; echo 1 > /sys/fs/cgroup/frz/cgroup.freeze
  cd $B/frz
  $RUNA run -d frz < /dev/null > /dev/null 2> /run/frz.err; say FRZ_RC $?
  say FRZ_ERR "$(cat /run/frz.err)"
  say FRZ_LEFT "children:$(find /sys/fs/cgroup/frz -mindepth 1 -type d | wc -l) frozen:$(cat /sys/fs/cgroup/frz/cgroup.freeze) list:$($RUNA list -q | grep -x frz)"
  rmdir /sys/fs/cgroup/frz
}

# kill --all KILL: the container's three processes and one moved into its cgroup from outside
# (not in its pid namespace): cgroup.kill reaches them all.
case_killall() {
  cd $B/ka
  $RUNA run -d ka < /dev/null > /dev/null 2>&1; say KA_RUN $?
  d=$(cg ka)
  [ -e $d/cgroup.kill ] && say KA_HAS_KILL yes || say KA_HAS_KILL no
  sleep 1000 &
  out=$!
  echo $out > $d/cgroup.procs
  i=0; while [ $i -lt 50 ] && [ "$(wc -l < $d/cgroup.procs)" -lt 4 ]; do sleep 0.1; i=$((i+1)); done
  say KA_BEFORE "$(wc -l < $d/cgroup.procs)"
  $RUNA kill --all ka KILL; say KA_RC $?
  i=0; while [ $i -lt 50 ] && [ -n "$(cat $d/cgroup.procs 2>/dev/null)" ]; do sleep 0.1; i=$((i+1)); done
  say KA_AFTER "$(cat $d/cgroup.procs 2>/dev/null | wc -l)"
  kill $out 2>/dev/null; wait $out; say KA_OUTSIDER $?
  $RUNA delete -f ka; say KA_DELETE_RC $?
}

# Rootless: uid ${RL_UID} with a cgroup delegated as systemd's user@.service is (only memory and
# pids enabled above it, the directory and its cgroup.procs, cgroup.subtree_control and
# cgroup.threads its own), its shell in init.scope below; runa as that user, --rootless by itself.
case_rootless() {
  echo 'rl:x:${RL_UID}:${RL_UID}::/tmp/rl:/bin/sh' >> /etc/passwd
  echo 'rl:x:${RL_UID}:' >> /etc/group
  mkdir -p /tmp/rl /run/user/${RL_UID}
  chown ${RL_UID}:${RL_UID} /tmp/rl /run/user/${RL_UID}; chmod 700 /run/user/${RL_UID}
  chmod 755 $B
  S=/sys/fs/cgroup/user.slice; U=$S/user@${RL_UID}.service
  mkdir -p $U/init.scope
  echo '+memory +pids' > $S/cgroup.subtree_control
  chown ${RL_UID}:${RL_UID} $U $U/cgroup.procs $U/cgroup.subtree_control $U/cgroup.threads $U/init.scope $U/init.scope/cgroup.procs
  cat > /tmp/rl/run.sh <<'RL'
say() { printf '%s=%s\\n' "$1" "$(printf '%s' "$2" | head -n 1)"; }
cd "$1"
runa run -d rl < /dev/null > /dev/null 2> /tmp/rl/err; say RL_RUN $?
say RL_ERR "$(cat /tmp/rl/err)"
say RL_DAEMON_LOG "$(tail -c 1500 /run/user/${RL_UID}/runa/daemon.log 2>/dev/null | tr '\\n' '|')"
pid=$(runa state rl | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
cg=$(cat /proc/$pid/cgroup)
say RL_CG "$cg"
d=/sys/fs/cgroup\${cg#0::}
say RL_HOST "$(cat $d/pids.max) $(cat $d/memory.max)"
say RL_INSIDE "$(runa exec rl sh -c 'echo $(cat /sys/fs/cgroup/pids.max) $(cat /sys/fs/cgroup/memory.max)' 2>&1)"
say RL_UIDS "$(runa exec rl id -u) $(sed -n 's/^Uid:[^0-9]*\\([0-9]*\\).*/\\1/p' /proc/$pid/status)"
say RL_FORK "$(runa exec rl sh -c 'i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; wait' 2>&1 | grep -m 1 -i fork)"
runa delete -f rl; say RL_DELETE_RC $?
[ -e "$d" ] && say RL_LEFT yes || say RL_LEFT no
RL
  sh -c "echo \\$\\$ > $U/init.scope/cgroup.procs && exec setpriv --reuid ${RL_UID} --regid ${RL_UID} --init-groups env -i PATH=${path.dirname(runaBin)}:/usr/bin:/bin HOME=/tmp/rl USER=rl XDG_RUNTIME_DIR=/run/user/${RL_UID} RUNA_DAEMON_IDLE_MS=600000 sh /tmp/rl/run.sh $B/rootless"
}

# The callers (RUNA_V2_GUEST_CALLERS=1): podman with the cgroupfs manager, its storage on the
# guest's tmpfs; containerd with its own config, root and state there, and ctr.
case_podman() {
  P=/tmp/podman; mkdir -p $P/vartmp
  printf '%s\\n' '[containers]' 'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]' '[engine]' "image_copy_tmp_dir = \\"$P/vartmp\\"" > $P/containers.conf
  PODMAN="timeout 180 env CONTAINERS_CONF=$P/containers.conf TMPDIR=$P/vartmp podman --root $P/root --runroot $P/runroot --tmpdir $P/tmp --volumepath $P/volumes --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime ${runaBin}"
  $PODMAN load -i $B/busybox.tar > /run/pod.out 2>&1; say POD_LOAD $?; say POD_LOAD_ERR "$(tail -n 1 /run/pod.out)"
  say POD_RUN "$($PODMAN run --rm --network none --memory 64m ${IMAGE} cat /sys/fs/cgroup/memory.max 2> /run/pod.err)"
  say POD_RUN_ERR "$(tail -n 1 /run/pod.err)"
  $PODMAN run -d --name pd --network none --memory 48m --pids-limit 30 ${IMAGE} sleep 1000 > /run/pod.id 2> /run/pod.err; say POD_D_RC $?
  say POD_D_ERR "$(tail -n 1 /run/pod.err)"
  say POD_EXEC "$($PODMAN exec pd sh -c 'echo $(cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/pids.max)' 2>&1)"
  pid=$($PODMAN inspect --format '{{.State.Pid}}' pd)
  d=/sys/fs/cgroup$(cut -d: -f3 /proc/$pid/cgroup)
  say POD_HOST "$(cat $d/memory.max) $(cat $d/pids.max)"
  $PODMAN stop -t 1 pd > /dev/null 2>&1; say POD_STOP_RC $?
  $PODMAN rm pd > /dev/null 2>&1; say POD_RM_RC $?
  say POD_LEFT "$(${runaBin} list -q 2>&1 | tr '\\n' ' ')"
}

case_containerd() {
  C=/tmp/ctrd; mkdir -p $C/fifo
  printf '%s\\n' 'version = 2' "root = \\"$C/root\\"" "state = \\"$C/state\\"" \
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.overlayfs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]' \
    '[grpc]' "  address = \\"$C/c.sock\\"" '[ttrpc]' "  address = \\"$C/c.sock.ttrpc\\"" '[debug]' '  address = ""' '[metrics]' '  address = ""' > $C/config.toml
  containerd --config $C/config.toml > $C/log 2>&1 &
  cd_pid=$!
  CTR="timeout 180 env CONTAINERD_SNAPSHOTTER=native ctr -a $C/c.sock -n runa-test"
  up() { [ -S $C/c.sock ] && timeout 10 ctr -a $C/c.sock version > /dev/null 2>&1; }
  i=0; while [ $i -lt 300 ] && kill -0 $cd_pid 2>/dev/null && ! up; do sleep 0.2; i=$((i+1)); done
  if ! up; then say CTRD_UP no; say CTRD_LOG "$(tail -n 1 $C/log)"; kill $cd_pid 2>/dev/null; return; fi
  say CTRD_UP yes
  say CTRD_LOG "$(tail -n 1 $C/log)"
  $CTR images import $B/busybox.tar > $C/out 2>&1; say CTRD_IMPORT $?; say CTRD_IMPORT_ERR "$(tail -n 1 $C/out)"
  # ctr's spec has no /sys/fs/cgroup mount: one of type cgroup (the container's cgroup, bound: no cgroup namespace)
  $CTR run -d --memory-limit ${40 * MiB} --mount type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro --runtime io.containerd.runc.v2 --runc-binary ${runaBin} --runc-root $C/rt --fifo-dir $C/fifo ${IMAGE} cd1 sleep 1000 > $C/out 2>&1
  say CTRD_RUN $?; say CTRD_RUN_ERR "$(tail -n 1 $C/out)"
  say CTRD_EXEC "$($CTR task exec --fifo-dir $C/fifo --exec-id x1 cd1 cat /sys/fs/cgroup/memory.max 2>&1)"
  pid=$($CTR task ls | awk '$1 == "cd1" { print $2 }')
  say CTRD_HOST "$(cat /sys/fs/cgroup$(cut -d: -f3 /proc/$pid/cgroup)/memory.max)"
  $CTR task kill -s SIGKILL cd1; say CTRD_KILL_RC $?
  i=0; while [ $i -lt 50 ] && ! $CTR task ls | grep -q 'cd1.*STOPPED'; do sleep 0.2; i=$((i+1)); done
  say CTRD_STATUS "$($CTR task ls | awk '$1 == "cd1" { print $3 }')"
  $CTR task delete cd1 > /dev/null 2>&1; $CTR container delete cd1; say CTRD_DELETE_RC $?
  kill $cd_pid; wait $cd_pid
}

# Each case's guest uptime at its start and end (seconds), for the log.
uptime_s() { cut -d' ' -f1 /proc/uptime; }
CASES="pure_v2 limits clone cgroupns cgroup_mount update pause stats devices resources refused oom preexisting killall rootless"
[ "\${RUNA_V2_GUEST_CALLERS:-0}" = 1 ] && CASES="$CASES podman containerd"
for c in $CASES kill_delete; do
  t=$(uptime_s); case_$c; say "TIME_$(echo $c | tr a-z A-Z)" "$t-$(uptime_s)"
done
say DONE yes
`;
}
