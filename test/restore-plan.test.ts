// The plan of `runa restore` (src/oci/plan/restore.ts), pure: CRIU's arguments as runc's
// request gives them, the monitor's and CRIU's ops, and what a restore refuses of a config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildRestorePlan, refuseForRestore, restoredSpec } from '../src/oci/plan.js';
import type { PlanInput } from '../src/oci/plan.js';
import type { HostFacts } from '../src/oci/host-facts.js';
import type { PlanOp } from '../src/nsinit/plan.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import type { Spec } from '../src/oci/spec.js';

const stateDir = '/run/runa/r1';
const rootfs = '/bundles/r1/rootfs';
const stat = (kind: 'dir' | 'file') => ({ kind, mode: 0, uid: 0, gid: 0, dev: 0, ino: 0 });
const host = { stats: { '/srv/data': stat('dir'), '/etc/hosts': stat('file') } } as unknown as HostFacts;

function input(edit?: (s: Spec) => void, more: Partial<PlanInput> = {}): PlanInput {
  const spec = defaultSpec() as Spec;
  spec.process.terminal = false;
  spec.mounts = [...(spec.mounts ?? []),
    { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind'] },
    { destination: '/etc/hosts', type: 'bind', source: '/etc/hosts', options: ['bind', 'ro'] }];
  edit?.(spec);
  return {
    spec, stateDir, rootfs, resolve: (p) => path.join(rootfs, p),
    hostCgroups: [{ dir: '', fstype: 'cgroup2', options: '' }],
    cgroupDirs: { monitor: [], child: ['/sys/fs/cgroup/runa/r1'] },
    restore: {
      criu: '/usr/sbin/criu', path: '/usr/sbin:/usr/bin', imagePath: '/ckpt', workPath: '/work', shellJob: true,
      inheritFds: [{ fd: 1, key: 'pipe:[123]' }],
    },
    ...more,
  };
}

const args = (plan: PlanOp[]) => plan.filter((p) => p.op === 'arg').map((p) => (p as { value: string }).value);

test('the monitor forks CRIU, which joins the cgroup, binds the root in a mount namespace of its own and restores with runc\'s options', () => {
  const plan = buildRestorePlan(input(), host);
  assert.deepEqual(plan.slice(0, 7), [
    { op: 'statedir', path: stateDir },
    { op: 'criu-restore', pidFile: `${stateDir}/restore.pid`, sibling: true },
    { op: 'write', path: '/sys/fs/cgroup/runa/r1/cgroup.procs', value: '0' },
    { op: 'unshare', namespaces: ['mnt'] },
    { op: 'mount', source: '', target: '/', fstype: '', flags: 0x4000 | 0x80000, data: '' },
    { op: 'mount', source: rootfs, target: `${stateDir}/criu-root`, fstype: '', flags: 0x1000 | 0x4000, data: '' },
    { op: 'rootfs', path: `${stateDir}/criu-root` },
  ]);
  // Mount points: /data a directory, /etc/hosts a file; /dev/pts and /dev/shm lie on the /dev tmpfs (CRIU's to restore).
  assert.ok(plan.some((p) => p.op === 'mkdir' && p.path === 'data'));
  assert.ok(plan.some((p) => p.op === 'mkfile' && p.path === 'etc/hosts'));
  assert.ok(!plan.some((p) => (p.op === 'mkdir' || p.op === 'mkfile') && p.path.startsWith('dev/')));
  assert.deepEqual(plan.at(-1), { op: 'exec' });
  assert.ok(plan.some((p) => p.op === 'env' && p.entry === 'PATH=/usr/sbin:/usr/bin'));
  assert.deepEqual(args(plan), ['/usr/sbin/criu', 'restore', '--images-dir', '/ckpt', '--work-dir', '/work', '--log-file', 'restore.log', '-v4',
    '--root', `${stateDir}/criu-root`, '--pidfile', `${stateDir}/restore.pid`, '--restore-detached', '--restore-sibling',
    '--manage-cgroups=soft', '--evasive-devices', '--empty-ns', 'net', '--cgroup-root', '/runa/r1', '--shell-job',
    '--ext-mount-map', '/data:/srv/data', '--ext-mount-map', '/etc/hosts:/etc/hosts', '--inherit-fd', 'fd[1]:pipe:[123]']);
});

test('linux.intelRdt: CRIU joins the class of service, and so do the tasks it restores', () => {
  const plan = buildRestorePlan(input(undefined, { rdtDir: '/sys/fs/resctrl/r1' }), host);
  const at = plan.findIndex((p) => p.op === 'write' && p.path === '/sys/fs/resctrl/r1/tasks');
  assert.ok(at > 1 && at < plan.findIndex((p) => p.op === 'exec'), JSON.stringify(plan.slice(0, 6)));
});

test('supervised (--pid-file, detached): the restored init is CRIU\'s child, reparented to the caller\'s subreaper; the monitor follows it by pidfd', () => {
  const plan = buildRestorePlan(input(undefined, { supervised: true }), host);
  assert.deepEqual(plan[1], { op: 'criu-restore', pidFile: `${stateDir}/restore.pid`, sibling: false });
  assert.ok(!args(plan).includes('--restore-sibling'));
  assert.ok(args(plan).includes('--restore-detached'));
});

test('what a restore through CRIU\'s command line refuses, in words that say why; joinable namespaces are joined', () => {
  const refuses = (edit: (s: Spec) => void, re: RegExp, unprivileged = false) => {
    const s = defaultSpec() as Spec;
    s.process.terminal = false;
    edit(s);
    assert.throws(() => refuseForRestore(s, unprivileged), re);
  };
  refuses((s) => { s.process.terminal = true; }, /restore: a container with a terminal \(process\.terminal\) cannot be restored by runa/);
  refuses((s) => { s.hooks = { createRuntime: [{ path: '/bin/true' }] }; }, /restore: the config's createRuntime hooks cannot run/);
  refuses((s) => { s.hooks = { prestart: [{ path: '/bin/true' }] }; }, /restore: the config's prestart hooks cannot run/);
  refuses((s) => { s.linux!.namespaces = [{ type: 'network', path: '/run/netns/x' }]; }, /restore: joining the existing network namespace \/run\/netns\/x is not supported by runa/);
  refuses((s) => { s.linux!.namespaces = [{ type: 'cgroup', path: '/proc/1/ns/cgroup' }]; }, /Do not know how to handle namespace NEWCGROUP/);
  refuses(() => undefined, /restore: runa restores as root only/, true);
  refuses((s) => { s.linux!.netDevices = { eth9: { name: 'eth0' } }; }, /restore: linux\.netDevices cannot be moved into a restored container/);
  const plan = buildRestorePlan(input((s) => { s.linux!.namespaces = [...s.linux!.namespaces!.filter((n) => n.type !== 'ipc'), { type: 'ipc', path: '/proc/1/ns/ipc' }]; }), host);
  assert.ok(args(plan).join(' ').includes('--join-ns ipc:/proc/1/ns/ipc'));
});

test('the restored container\'s config gains CRIU\'s time namespace where the kernel has them (runc)', () => {
  const s = defaultSpec() as Spec;
  assert.ok(restoredSpec(s, true).linux!.namespaces!.some((n) => n.type === 'time'));
  assert.equal(restoredSpec(s, false), s);
  assert.ok(!s.linux!.namespaces!.some((n) => n.type === 'time'), 'the given config is not changed');
});
