// The planner is pure: it plans from a spec and made-up host facts (HostFacts), without root and
// without reading the host. Every plan here is built with node:fs's reading calls made to throw,
// so a read of the host that crept back into src/oci/plan/ fails these tests.
// Runs as any user: setpriv --reuid=65534 --regid=65534 --clear-groups node --test dist/test/plan-pure.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { buildExecPlan, buildPlan, parseMountOptions, type ExecHostFacts, type ExecPlanInput, type HostFacts, type PlanInput } from '../src/oci/plan.js';
import type { PathStat } from '../src/oci/host-facts.js';
import { MS, type PlanOp } from '../src/nsinit/plan.js';
import { parseSpec, type Spec } from '../src/oci/spec.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { cgroupDirs } from '../src/actors/container-cgroups.js';

const ROOTFS = '/run/b/rootfs';
const STATE = '/run/runa/c1';

// ---- made-up host facts ----

const dir = (mode = 0o755, uid = 0, gid = 0): PathStat => ({ kind: 'dir', mode: 0o040000 | mode, uid, gid, major: 0, minor: 0 });
const file = (): PathStat => ({ kind: 'file', mode: 0o100644, uid: 0, gid: 0, major: 0, minor: 0 });
const chr = (major: number, minor: number): PathStat => ({ kind: 'chr', mode: 0o020666, uid: 0, gid: 0, major, minor });

/** / (shared), /run (shared, a tmpfs), /srv (ro,nosuid,nodev,noexec: what a user namespace locks). */
const MOUNTINFO = [
  '21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '22 21 0:20 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755',
  '23 21 8:17 / /srv ro,nosuid,nodev,noexec,relatime - ext4 /dev/sdb1 ro',
].join('\n');

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n';

/** A host where everything the default spec and these tests look at is known; `over` replaces parts. */
function facts(over: Partial<HostFacts> = {}): HostFacts {
  const base: HostFacts = {
    security: { apparmor: false, selinux: false, resctrl: false },
    apparmorExecAttr: false,
    passwd: PASSWD,
    mountinfo: MOUNTINFO,
    ownMaps: { uid: [{ containerID: 0, hostID: 0, size: 4294967295 }], gid: [{ containerID: 0, hostID: 0, size: 4294967295 }] },
    procMaps: {},
    timeNamespaces: true,
    realpaths: { [ROOTFS]: ROOTFS, '/srv/data': '/srv/data', '/run/afile': '/run/afile', '/sys': '/sys', '/proc': '/proc', '/dev/mqueue': '/dev/mqueue', '/sys/fs/cgroup': '/sys/fs/cgroup' },
    stats: {
      '/': dir(), '/run': dir(), '/run/b': dir(), [ROOTFS]: dir(), '/srv/data': dir(), '/run/afile': file(),
      '/sys': dir(), '/proc': dir(), '/dev/mqueue': dir(), '/sys/fs/cgroup': dir(), '/dev/fuse': chr(10, 229),
    },
    present: {},
    nsFiles: { '/proc/self/ns/user': { dev: 4, ino: 1 }, '/proc/self/ns/net': { dev: 4, ino: 2 } },
    devNodes: [{ path: '/dev/fuse', kind: 'chr', major: 10, minor: 229 }, { path: '/dev/snd/timer', kind: 'chr', major: 116, minor: 33 }],
    interfaces: ['lo', 'eth0'],
  };
  return {
    ...base, ...over,
    realpaths: { ...base.realpaths, ...over.realpaths }, stats: { ...base.stats, ...over.stats },
    nsFiles: { ...base.nsFiles, ...over.nsFiles }, procMaps: { ...base.procMaps, ...over.procMaps },
  };
}

/** node:fs's reading calls throw while `f` runs: the planner must not look at the host. */
function offHost<T>(f: () => T): T {
  const names = ['readFileSync', 'statSync', 'lstatSync', 'realpathSync', 'existsSync', 'readdirSync', 'readlinkSync', 'accessSync', 'openSync', 'opendirSync'] as const;
  const saved = names.map((n) => [n, (fs as any)[n]] as const);
  for (const n of names) (fs as any)[n] = (p: unknown) => { throw new Error(`the planner read the host: fs.${n}(${String(p)})`); };
  try {
    return f();
  } finally {
    for (const [n, fn] of saved) (fs as any)[n] = fn;
  }
}

/** runc's default spec (no terminal), changed by `edit`. */
function spec(edit: (s: any) => any = (s) => s): Spec {
  const s = defaultSpec() as any;
  s.process.terminal = false;
  return parseSpec(edit(s));
}

const withUserns = (s: any, more: Record<string, unknown> = {}) => ({
  ...s,
  linux: { ...s.linux, namespaces: [...s.linux.namespaces, { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], ...more },
});

function plan(s: Spec, host: HostFacts = facts(), more: Partial<PlanInput> = {}): PlanOp[] {
  const input: PlanInput = {
    spec: s, stateDir: STATE, rootfs: ROOTFS, resolve: (p) => `${ROOTFS}${p === '/' ? '' : p}`,
    hostCgroups: [{ dir: '', fstype: 'cgroup2', options: 'rw,nosuid,nodev,noexec,relatime' }],
    cgroupDirs: { monitor: ['/sys/fs/cgroup/runa/c1'], child: ['/sys/fs/cgroup/runa/c1'] }, ...more,
  };
  return offHost(() => buildPlan(input, host));
}

type Op<K extends PlanOp['op']> = Extract<PlanOp, { op: K }>;
const ops = <K extends PlanOp['op']>(p: PlanOp[], op: K): Array<Op<K>> => p.filter((o): o is Op<K> => o.op === op);
const mountsAt = (p: PlanOp[], target: string) => ops(p, 'mount').filter((o) => o.target === target);
const envOf = (p: PlanOp[]) => ops(p, 'env').map((o) => o.entry);
const lastIndex = (p: PlanOp[], f: (o: PlanOp) => boolean) => p.length - 1 - [...p].reverse().findIndex(f);

// ---- mount options ----

test('mount options: flags set and cleared in order, propagation, recursive attributes, copyup; the rest is data', () => {
  const o = parseMountOptions(['ro', 'nosuid', 'rw', 'rbind', 'rprivate', 'shared', 'rro', 'rnoatime', 'rrelatime', 'tmpcopyup', 'idmap', 'size=1m', 'mode=755']);
  assert.equal(o.flags, MS.NOSUID | MS.BIND | MS.REC, 'rw after ro clears it');
  assert.deepEqual(o.propagation, [MS.PRIVATE | MS.REC, MS.SHARED]);
  assert.equal(o.copyup, true);
  // rrelatime replaces rnoatime (both clear MOUNT_ATTR__ATIME 0x70; relatime is 0)
  assert.deepEqual(o.recursive, { set: 0x1, clear: 0x70 });
  assert.equal(o.data, 'size=1m,mode=755', 'idmap and tmpcopyup are not kernel data');
  assert.deepEqual(parseMountOptions(), { flags: 0, propagation: [], data: '', copyup: false });
});

test('default spec: a fresh mount namespace, rslave /, the rootfs bound, its mounts relative to the root, the read-only root last', () => {
  const p = plan(spec());
  assert.deepEqual(p[0], { op: 'statedir', path: STATE });
  const i = p.findIndex((o) => o.op === 'unshare' && o.namespaces.includes('mnt'));
  assert.ok(i > 0);
  assert.deepEqual(p[i + 1], { op: 'mount', source: '', target: '/', fstype: '', flags: MS.SLAVE | MS.REC, data: '' });
  // /run is shared on this host, but a recursive rslave of / made it a slave already: no change of the parent.
  assert.deepEqual(p[i + 2], { op: 'mount', source: ROOTFS, target: ROOTFS, fstype: '', flags: MS.BIND | MS.REC, data: '' });
  assert.deepEqual(p[i + 3], { op: 'rootfs', path: ROOTFS });
  assert.deepEqual(mountsAt(p, 'proc'), [{ op: 'mount', source: 'proc', target: 'proc', fstype: 'proc', flags: 0, data: '' }]);
  assert.deepEqual(mountsAt(p, 'dev'), [{ op: 'mount', source: 'tmpfs', target: 'dev', fstype: 'tmpfs', flags: MS.NOSUID | MS.STRICTATIME, data: 'mode=755,size=65536k' }]);
  assert.deepEqual(mountsAt(p, 'sys'), [{ op: 'mount', source: 'sysfs', target: 'sys', fstype: 'sysfs', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY, data: '' }]);
  // cgroup v2 in a cgroup namespace of its own: a fresh, read-only cgroup2
  assert.deepEqual(mountsAt(p, 'sys/fs/cgroup'), [{ op: 'mount', source: 'cgroup2', target: 'sys/fs/cgroup', fstype: 'cgroup2', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RELATIME | MS.RDONLY, data: '' }]);
  assert.deepEqual(ops(p, 'mkdir').slice(0, 4).map((o) => o.path), ['proc', 'dev', 'dev', 'dev/pts']);
  const pivot = p.findIndex((o) => o.op === 'pivot_root');
  assert.deepEqual(p[pivot], { op: 'pivot_root', newRoot: ROOTFS });
  // root.readonly: outside a user namespace no locked flags to restate
  assert.ok(p.slice(pivot).some((o) => o.op === 'mount' && o.target === '/' && o.flags === (MS.REMOUNT | MS.BIND | MS.RDONLY)));
  assert.deepEqual(ops(p, 'mask').length, 10);
  assert.deepEqual(ops(p, 'readonly').map((o) => o.path), ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.deepEqual(p.slice(-2), [{ op: 'gate' }, { op: 'exec' }]);
});

test('propagation: a shared parent of the rootfs is made private; rootfsPropagation is set again after the masks; unbindable starts private', () => {
  const shared = plan(spec((s) => ({ ...s, linux: { ...s.linux, rootfsPropagation: 'shared' } })));
  const i = shared.findIndex((o) => o.op === 'mount' && o.target === '/' && o.flags === MS.SHARED);
  assert.deepEqual(shared[i + 1], { op: 'mount', source: '', target: '/run', fstype: '', flags: MS.PRIVATE, data: '' }, '/run is shared on the host');
  const last = lastIndex(shared, (o) => o.op === 'mount' && o.target === '/');
  assert.equal((shared[last] as Op<'mount'>).flags, MS.SHARED);
  assert.ok(last > lastIndex(shared, (o) => o.op === 'readonly'), 'after the read-only paths');
  // the same host with /run not shared: nothing to change
  const unshared = plan(spec((s) => ({ ...s, linux: { ...s.linux, rootfsPropagation: 'shared' } })), facts({ mountinfo: MOUNTINFO.replace('shared:5', '') }));
  assert.equal(mountsAt(unshared, '/run').length, 0);
  const unbindable = plan(spec((s) => ({ ...s, linux: { ...s.linux, rootfsPropagation: 'runbindable' } })));
  assert.equal(mountsAt(unbindable, '/')[0].flags, MS.PRIVATE | MS.REC);
  assert.equal(mountsAt(unbindable, '/').at(-1)!.flags, MS.UNBINDABLE | MS.REC);
});

test('bind mounts: bind and rbind, the flags by a remount, propagation after it, a file source gets a file', () => {
  const p = plan(spec((s) => ({
    ...s,
    mounts: [...s.mounts,
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro', 'nosuid', 'rslave'] },
      { destination: '/etc/afile', type: 'none', source: '/run/afile', options: ['bind'] }],
  })));
  assert.deepEqual(mountsAt(p, 'data'), [
    { op: 'mount', source: '/srv/data', target: 'data', fstype: '', flags: MS.BIND | MS.REC, data: '' },
    { op: 'mount', source: '', target: 'data', fstype: '', flags: MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID, data: '' },
    { op: 'mount', source: '', target: 'data', fstype: '', flags: MS.SLAVE | MS.REC, data: '' },
  ]);
  assert.deepEqual(mountsAt(p, 'etc/afile'), [{ op: 'mount', source: '/run/afile', target: 'etc/afile', fstype: '', flags: MS.BIND, data: '' }]);
  assert.deepEqual(ops(p, 'mkfile').map((o) => o.path), ['etc/afile'], 'a file for a file, HostFacts.stats says');
  assert.ok(ops(p, 'mkdir').some((o) => o.path === 'etc') && !ops(p, 'mkdir').some((o) => o.path === 'etc/afile'));
  assert.equal(ops(p, 'hold').length, 0, 'no user namespace: nothing held');
  assert.throws(() => plan(spec((s) => ({ ...s, mounts: [{ destination: '/x', type: 'bind', source: '/srv/data', options: ['bind', 'size=1m'] }] }))),
    /mounts\.0: invalid mount on \/x: bind mounts cannot have any filesystem-specific options applied \(size=1m\)/);
});

// ---- devices ----

test('devices: the defaults made with mknod in a fresh /dev, spec devices first, /dev/ptmx left to the pts symlink', () => {
  const p = plan(spec((s) => ({
    ...s,
    linux: { ...s.linux, devices: [
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600, uid: 5, gid: 6 },
      { path: '/dev/ptmx', type: 'c', major: 5, minor: 2 },
      { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o620 },
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
      { path: '/dev/disk/loop7', type: 'b', major: 7, minor: 7 },
      { path: '/dev/fifo', type: 'p' }] },
  })));
  const nodes = ops(p, 'mknod').map((o) => [o.path, o.mode, o.major, o.minor]);
  assert.deepEqual(nodes, [
    ['dev/fuse', 0o020600, 10, 229], ['dev/null', 0o020620, 1, 3], ['dev/disk/loop7', 0o060666, 7, 7], ['dev/fifo', 0o010666, 0, 0],
    ['dev/zero', 0o020666, 1, 5], ['dev/full', 0o020666, 1, 7], ['dev/random', 0o020666, 1, 8], ['dev/urandom', 0o020666, 1, 9], ['dev/tty', 0o020666, 5, 0],
  ]);
  assert.deepEqual(ops(p, 'lchown'), [{ op: 'lchown', path: 'dev/fuse', uid: 5, gid: 6 }]);
  assert.ok(ops(p, 'mkdir').some((o) => o.path === 'dev/disk'));
  assert.deepEqual(ops(p, 'symlink').map((o) => [o.linkpath, o.target]), [
    ['dev/fd', '/proc/self/fd'], ['dev/stdin', '/proc/self/fd/0'], ['dev/stdout', '/proc/self/fd/1'], ['dev/stderr', '/proc/self/fd/2'], ['dev/ptmx', 'pts/ptmx'],
  ]);
  assert.throws(() => plan(spec((s) => ({ ...s, linux: { ...s.linux, devices: [{ path: '/dev/x', type: 'c' }] } }))), /linux\.devices: \/dev\/x: major and minor are required for type c/);
});

test('devices without a /dev tmpfs: only those not there yet (HostFacts.present), no defaults, no symlinks', () => {
  const s = spec((x) => ({
    ...x, mounts: x.mounts.filter((m: any) => m.destination !== '/dev'),
    linux: { ...x.linux, devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }, { path: '/dev/kvm', type: 'c', major: 10, minor: 232 }] },
  }));
  const p = plan(s, facts({ present: { [`${ROOTFS}/dev/fuse`]: true, [`${ROOTFS}/dev/kvm`]: false } }));
  assert.deepEqual(ops(p, 'mknod').map((o) => o.path), ['dev/kvm']);
  assert.equal(ops(p, 'symlink').length, 0);
  // a fact the reader did not gather is an error, never "absent"
  assert.throws(() => plan(s, facts()), /host facts: lstat of "\/run\/b\/rootfs\/dev\/fuse" was not read/);
});

test('devices in a user namespace: the host\'s nodes bound, found at their path or under /dev, or refused', () => {
  const p = plan(spec((s) => withUserns(s, { devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }, { path: '/dev/timer', type: 'c', major: 116, minor: 33 }] })),
    facts({ stats: { '/dev/timer': null } }));
  assert.equal(ops(p, 'mknod').length, 0, 'mknod is refused in a user namespace');
  assert.deepEqual(ops(p, 'mkfile').slice(0, 3).map((o) => [o.path, o.mode]), [['dev/fuse', 0o666], ['dev/timer', 0o666], ['dev/null', 0o666]]);
  assert.deepEqual(mountsAt(p, 'dev/fuse'), [{ op: 'mount', source: '/dev/fuse', target: 'dev/fuse', fstype: '', flags: MS.BIND, data: '' }]);
  assert.deepEqual(mountsAt(p, 'dev/timer')[0].source, '/dev/snd/timer', 'found in HostFacts.devNodes');
  assert.deepEqual(mountsAt(p, 'dev/urandom')[0].source, '/dev/urandom');
  assert.throws(() => plan(spec((s) => withUserns(s, { devices: [{ path: '/dev/none', type: 'b', major: 250, minor: 1 }] })), facts({ stats: { '/dev/none': null } })),
    /linux\.devices: \/dev\/none: no block device 250:1 on the host to bind/);
});

// ---- user namespaces ----

test('user namespace: the maps written, binds held from before it, locked flags restated, the monitor\'s host ops before it', () => {
  const s = spec((x) => withUserns({ ...x, mounts: [...x.mounts, { destination: '/data', type: 'bind', source: '/srv/data', options: ['bind', 'noatime'] }] }));
  const p = plan(s);
  const u = p.findIndex((o) => o.op === 'userns');
  assert.deepEqual(p[u], { op: 'userns', uidMap: '0 100000 65536\n', gidMap: '0 100000 65536\n' });
  assert.deepEqual(ops(p, 'hold'), [{ op: 'hold', path: '/srv/data', recursive: false }]);
  assert.ok(p.findIndex((o) => o.op === 'hold') < u);
  const rl = p.findIndex((o) => o.op === 'rlimit');
  assert.ok(rl >= 0 && rl < u, 'rlimits set by the monitor while it is host root');
  assert.deepEqual(p[rl], { op: 'rlimit', resource: 7, soft: 1024n, hard: 1024n });
  // the bind's remount keeps /srv's locked ro,nosuid,nodev,noexec (HostFacts.mountinfo)
  assert.deepEqual(mountsAt(p, 'data'), [{ op: 'mount', source: '', target: 'data', fstype: '', flags: MS.REMOUNT | MS.BIND | MS.NOATIME | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, data: '' }]);
  assert.deepEqual(ops(p, 'mount-held'), [{ op: 'mount-held', index: 0, target: 'data', source: '/srv/data' }]);
  // after the fork: the namespace's root at once
  const fork = p.findIndex((o) => o.op === 'fork');
  assert.deepEqual(p.slice(fork + 3, fork + 6).map((o) => o.op), ['setgroups', 'setgid', 'setuid']);
  // the read-only root restates what /run (the rootfs's mount) locks: nosuid, nodev
  assert.deepEqual(mountsAt(p, '/').at(-1), { op: 'mount', source: '', target: '/', fstype: '', flags: MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID | MS.NODEV, data: '' });
});

test('user namespace: what the maps and the host allow', () => {
  const user = (uid: number) => (s: any) => withUserns({ ...s, process: { ...s.process, user: { uid, gid: 0 } } });
  assert.throws(() => plan(spec(user(70000))), /process\.user\.uid: 70000 is not mapped by linux\.uidMappings/);
  assert.throws(() => plan(spec((s) => withUserns(s, { uidMappings: [{ containerID: 1, hostID: 100000, size: 10 }] }))), /linux\.uidMappings: 0 is not mapped by linux\.uidMappings \(the container's root must be mapped\)/);
  // the container's root (host 100000) must reach the rootfs: /run/b is 0700 root's
  assert.throws(() => plan(spec(user(0)), facts({ stats: { '/run/b': dir(0o700) } })),
    /root\.path: \/run\/b \(mode 0700, owner 0:0\) is not searchable by the container's root \(host uid 100000, gid 100000/);
  assert.doesNotThrow(() => plan(spec(user(0)), facts({ stats: { '/run/b': dir(0o711) } })));
  assert.doesNotThrow(() => plan(spec(user(0)), facts({ stats: { '/run/b': dir(0o700, 100005, 100005) } })), 'owned by a mapped id');
  // a user namespace joined by /proc/<pid>/ns/user: that process's maps (HostFacts.procMaps) decide
  const joined = (uid: number) => spec((s) => ({ ...s, process: { ...s.process, user: { uid, gid: 0 } }, linux: { ...s.linux, namespaces: [...s.linux.namespaces, { type: 'user', path: '/proc/77/ns/user' }] } }));
  const maps = { procMaps: { 77: { uid: [{ containerID: 0, hostID: 5000, size: 100 }], gid: [{ containerID: 0, hostID: 5000, size: 100 }] } } };
  assert.throws(() => plan(joined(1000), facts(maps)), /process\.user\.uid: 1000 is not mapped by the user namespace \/proc\/77\/ns\/user/);
  const p = plan(joined(50), facts(maps));
  assert.deepEqual(ops(p, 'setns').find((o) => o.nstype === 'user'), { op: 'setns', path: '/proc/77/ns/user', nstype: 'user' });
  assert.equal(ops(p, 'userns').length, 0);
});

test('rootless: one own id mapped by the kernel, more through newuidmap, none without it', () => {
  const s = spec((x) => withUserns({ ...x, mounts: x.mounts.filter((m: any) => m.type !== 'cgroup') },
    { uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }));
  const p = plan(s, facts(), { cgroupDirs: undefined, unprivileged: { uid: 1000, gid: 1000, newuidmap: null, newgidmap: null } });
  assert.deepEqual(ops(p, 'userns-rootless'), [{ op: 'userns-rootless', uidMap: '0 1000 1\n', gidMap: '0 1000 1\n', setgroups: 'deny', uidHelper: '', gidHelper: '' }]);
  assert.equal(ops(p, 'setgroups').length, 0, 'setgroups is denied');
  assert.equal(ops(p, 'hold').length, 0);
  const wide = spec((x) => withUserns(x));
  assert.throws(() => plan(wide, facts(), { unprivileged: { uid: 1000, gid: 1000, newuidmap: null, newgidmap: null } }),
    /linux\.uidMappings: a rootless container can map only your own uid \(1000\) by itself; more needs newuidmap/);
});

test('in a user namespace the runtime did not make (inUserNs): the host\'s file systems bound where no namespace of its own, devpts gids kept to its maps', () => {
  const s = spec((x) => ({ ...x, linux: { ...x.linux, namespaces: x.linux.namespaces.map((n: any) => (n.type === 'network' ? { ...n, path: '/proc/55/ns/net' } : n)) } }));
  const own = { ownMaps: { uid: [{ containerID: 0, hostID: 1000, size: 1 }], gid: [{ containerID: 0, hostID: 1000, size: 1 }] } };
  // /proc/55's net namespace is another user namespace's: sysfs cannot be mounted, /sys is bound
  const foreign = facts({ ...own, nsFiles: { '/proc/55/ns/net': { dev: 4, ino: 9 }, '/proc/55/ns/user': { dev: 4, ino: 99 } } });
  const p = plan(s, foreign, { inUserNs: true });
  assert.deepEqual(mountsAt(p, 'sys')[0], { op: 'mount', source: '/sys', target: 'sys', fstype: '', flags: MS.BIND | MS.REC, data: '' });
  // devpts: gid=5 is not mapped by the runtime's own maps
  assert.deepEqual(mountsAt(p, 'dev/pts')[0].data, 'newinstance,ptmxmode=0666,mode=0620');
  assert.ok(ops(p, 'mkfile').some((o) => o.path === 'dev/null'), 'device nodes bound, not made');
  // made in the runtime's own user namespace: sysfs of its own
  const mine = facts({ ...own, nsFiles: { '/proc/55/ns/net': { dev: 4, ino: 9 }, '/proc/55/ns/user': { dev: 4, ino: 1 } } });
  assert.equal(mountsAt(plan(s, mine, { inUserNs: true }), 'sys')[0].fstype, 'sysfs');
  // a host file system to bind that the host does not have
  const noIpc = spec((x) => ({ ...x, linux: { ...x.linux, namespaces: x.linux.namespaces.filter((n: any) => n.type !== 'ipc') } }));
  assert.throws(() => plan(noIpc, facts({ ...own, stats: { '/dev/mqueue': null } }), { inUserNs: true }),
    /mounts\.4: mqueue on \/dev\/mqueue needs an ipc namespace of its own in a user namespace, and the host's \/dev\/mqueue to bind instead does not exist/);
});

// ---- namespaces checked against the host ----

test('the host\'s kernel and namespaces: time namespaces, a network namespace shared for net.* sysctls', () => {
  const time = spec((s) => ({ ...s, linux: { ...s.linux, namespaces: [...s.linux.namespaces, { type: 'time' }], timeOffsets: { monotonic: { secs: 10 } } } }));
  assert.deepEqual(ops(plan(time), 'write').find((o) => o.path === '/proc/self/timens_offsets'), { op: 'write', path: '/proc/self/timens_offsets', value: 'monotonic 10 0' });
  assert.throws(() => plan(time, facts({ timeNamespaces: false })), /time namespaces are not supported by this kernel/);
  const sysctl = spec((s) => ({ ...s, linux: { ...s.linux, sysctl: { 'net.ipv4.ip_forward': '1' }, namespaces: s.linux.namespaces.map((n: any) => (n.type === 'network' ? { ...n, path: '/run/netns/x' } : n)) } }));
  assert.throws(() => plan(sysctl, facts({ nsFiles: { '/run/netns/x': { dev: 4, ino: 2 } } })), /sysctl "net\.ipv4\.ip_forward" not allowed in host network namespace/);
  assert.throws(() => plan(sysctl, facts({ nsFiles: { '/run/netns/x': { error: 'ENOENT: no such file' } } })), /invalid netns path: ENOENT: no such file/);
  assert.deepEqual(ops(plan(sysctl, facts({ nsFiles: { '/run/netns/x': { dev: 4, ino: 3 } } })), 'write').find((o) => o.path.startsWith('/proc/sys')), { op: 'write', path: '/proc/sys/net/ipv4/ip_forward', value: '1' });
  const netdev = spec((s) => ({ ...s, linux: { ...s.linux, netDevices: { eth1: {} } } }));
  assert.throws(() => plan(netdev), /link not found for interface eth1 on runtime namespace/);
  assert.deepEqual(ops(plan(netdev, facts({ interfaces: ['lo', 'eth1'] })), 'netdev'), [{ op: 'netdev', host: 'eth1', name: 'eth1' }]);
});

// ---- the process ----

test('process: env and HOME from the container\'s passwd, capabilities, rlimits, oom score, cwd, ids, seccomp placement', () => {
  const p = plan(spec((s) => ({
    ...s,
    process: {
      ...s.process, env: ['PATH=/bin', 'A=b'], user: { uid: 1000, gid: 1000, additionalGids: [10], umask: 0o027 }, cwd: '/home/u/w', oomScoreAdj: -5,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }],
      capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL', 'CAP_CHOWN'] },
    },
  })));
  assert.deepEqual(envOf(p), ['PATH=/bin', 'A=b', 'HOME=/home/u']);
  assert.deepEqual(ops(p, 'rlimit'), [{ op: 'rlimit', resource: 7, soft: 100n, hard: 200n }, { op: 'rlimit', resource: 4, soft: 0n, hard: 0n }]);
  assert.deepEqual(ops(p, 'write').find((o) => o.path === '/proc/self/oom_score_adj')?.value, '-5');
  assert.deepEqual(ops(p, 'capbset'), [{ op: 'capbset', mask: (1n << 0n) | (1n << 5n) }]);
  assert.deepEqual(ops(p, 'capset'), [{ op: 'capset', effective: 1n << 5n, permitted: 1n << 5n, inheritable: 1n << 5n }]);
  assert.deepEqual(ops(p, 'ambient'), [{ op: 'ambient', mask: 1n << 5n }], 'only what is permitted and inheritable');
  const tail = p.slice(p.findIndex((o) => o.op === 'chdir-early'));
  assert.deepEqual(tail.slice(0, 5), [
    { op: 'chdir-early', path: '/home/u/w' }, { op: 'fix-stdio', uid: 1000 }, { op: 'setgroups', gids: [10] }, { op: 'setgid', gid: 1000 }, { op: 'setuid', uid: 1000 },
  ]);
  assert.ok(tail.some((o) => o.op === 'umask' && o.mode === 0o027));
  assert.deepEqual(ops(p, 'arg').map((o) => o.value), ['sh']);
  // the cwd made (after pivot_root, absolute)
  assert.ok(['/home', '/home/u', '/home/u/w'].every((d) => ops(p, 'mkdir').some((o) => o.path === d)));
  // a user the container's passwd does not know: HOME=/; no passwd at all: / too; HOME given: kept
  const other = (passwd: string | null, env: string[], uid = 4242) => envOf(plan(spec((s) => ({ ...s, process: { ...s.process, env, user: { uid, gid: 0 } } })), facts({ passwd })));
  assert.deepEqual(other(PASSWD, ['A=1']), ['A=1', 'HOME=/']);
  assert.deepEqual(other(null, ['A=1'], 0), ['A=1', 'HOME=/']);
  assert.deepEqual(other(PASSWD, ['A=1'], 0), ['A=1', 'HOME=/root']);
  assert.deepEqual(other(PASSWD, ['HOME=/x']), ['HOME=/x']);
  // noNewPrivileges: seccomp as late as possible, after nonewprivs
  const seccomp = { filter: { flags: 0, program: Buffer.alloc(8), notify: false } } as any;
  const nnp = plan(spec(), facts(), { seccomp });
  assert.ok(nnp.findIndex((o) => o.op === 'seccomp') > nnp.findIndex((o) => o.op === 'nonewprivs'));
  // after the gate: nsinit loads it as exec's last step, so only execve runs under it
  assert.deepEqual(nnp.slice(-3).map((o) => o.op), ['gate', 'seccomp', 'exec']);
  // a filter with a listener goes before the gate (its fd reaches the monitor over the setup socket)
  const notify = plan(spec(), facts(), { seccomp: { filter: { ...seccomp.filter, notify: true } } });
  assert.deepEqual(notify.slice(-3).map((o) => o.op), ['seccomp', 'gate', 'exec']);
});

test('process labels: refused without the LSM, written where the host has the attr file', () => {
  const aa = spec((s) => ({ ...s, process: { ...s.process, apparmorProfile: 'runa-default' } }));
  assert.throws(() => plan(aa), /apparmor profile "runa-default" is specified in config, but AppArmor is not enabled on this host/);
  const on = { security: { apparmor: true, selinux: false, resctrl: false } };
  assert.deepEqual(ops(plan(aa, facts(on)), 'write').find((o) => o.value.startsWith('exec ')), { op: 'write', path: '/proc/self/attr/exec', value: 'exec runa-default' });
  assert.deepEqual(ops(plan(aa, facts({ ...on, apparmorExecAttr: true })), 'write').find((o) => o.value.startsWith('exec ')), { op: 'write', path: '/proc/self/attr/apparmor/exec', value: 'exec runa-default' });
});

// ---- exec ----

const execFacts = (over: Partial<ExecHostFacts> = {}): ExecHostFacts => ({
  security: { apparmor: false, selinux: false, resctrl: false }, apparmorExecAttr: false, passwd: PASSWD,
  maps: { uid: [{ containerID: 0, hostID: 100000, size: 65536 }], gid: [{ containerID: 0, hostID: 100000, size: 65536 }] }, setgroupsDenied: false, ...over,
});
function execPlan(more: Partial<ExecPlanInput> = {}, host = execFacts()): PlanOp[] {
  const input: ExecPlanInput = {
    process: { ...spec().process, args: ['ps'], env: ['PATH=/bin'], user: { uid: 1000, gid: 1000 } }, execDir: `${STATE}/exec/e1`, initPid: 4242,
    namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'], cgroupDirs: { monitor: [], child: ['/sys/fs/cgroup/runa/c1'] }, ...more,
  };
  return offHost(() => buildExecPlan(input, host));
}

test('gate-signals: the init (not an exec\'d process) dies at the gate of runc\'s set, after the fork and before the gate', () => {
  const p = plan(spec());
  const g = ops(p, 'gate-signals');
  const sigs = (m: bigint) => [...Array(64).keys()].filter((n) => (m >> BigInt(n)) & 1n);
  assert.deepEqual(g.map((o) => sigs(o.mask)), [[1, 2, 3, 4, 5, 6, 7, 8, 11, 15, 16, 31]]);
  const at = p.findIndex((o) => o.op === 'gate-signals');
  assert.ok(p.findIndex((o) => o.op === 'fork') < at && at < p.findIndex((o) => o.op === 'gate'));
  assert.deepEqual(ops(execPlan(), 'gate-signals'), []);
});

test('exec: the init\'s namespaces joined, the cgroup namespace by the child after its cgroup, the mount namespace last, HOME from passwd', () => {
  const p = execPlan();
  assert.deepEqual(p.slice(0, 6), [
    { op: 'statedir', path: `${STATE}/exec/e1` },
    { op: 'setns', path: '/proc/4242/ns/ipc', nstype: 'ipc' }, { op: 'setns', path: '/proc/4242/ns/uts', nstype: 'uts' },
    { op: 'setns', path: '/proc/4242/ns/net', nstype: 'net' }, { op: 'setns', path: '/proc/4242/ns/pid', nstype: 'pid' },
    { op: 'fork' },
  ]);
  const join = p.findIndex((o) => o.op === 'write' && o.path === '/sys/fs/cgroup/runa/c1/cgroup.procs');
  assert.deepEqual(p[join + 1], { op: 'setns', path: '/proc/4242/ns/cgroup', nstype: 'cgroup' });
  assert.deepEqual(p[join + 2], { op: 'setns', path: '/proc/4242/ns/mnt', nstype: 'mnt' });
  assert.equal(ops(p, 'mkdir').length, 0, 'an exec\'d process\'s cwd is not made');
  assert.deepEqual(envOf(p), ['PATH=/bin', 'HOME=/home/u']);
  assert.deepEqual(ops(p, 'rlimit'), [{ op: 'rlimit', resource: 7, soft: 1024n, hard: 1024n }]);
});

test('exec into a user namespace: ids checked against the init\'s maps, the monitor joins it last, rootless as setgroups allows', () => {
  const ns = ['pid', 'user', 'mount'];
  assert.throws(() => execPlan({ namespaces: ns }, execFacts({ maps: { uid: [{ containerID: 0, hostID: 100000, size: 10 }], gid: [{ containerID: 0, hostID: 100000, size: 65536 }] } })),
    /exec: process\.user\.uid: 1000 is not mapped in the container's user namespace/);
  const p = execPlan({ namespaces: ns });
  const user = p.findIndex((o) => o.op === 'setns' && o.nstype === 'user');
  assert.ok(user > p.findIndex((o) => o.op === 'setns' && o.nstype === 'pid'));
  assert.ok(p.findIndex((o) => o.op === 'rlimit') < user, 'rlimits before the user namespace');
  const fork = p.findIndex((o) => o.op === 'fork');
  assert.deepEqual(p.slice(fork + 2, fork + 5).map((o) => o.op), ['setgroups', 'setgid', 'setuid']);
  // rootless: the container's namespaces after its user namespace, no setgroups where it is denied
  const r = execPlan({ namespaces: ns, unprivileged: true }, execFacts({ setgroupsDenied: true }));
  assert.ok(r.findIndex((o) => o.op === 'setns' && o.nstype === 'pid') > r.findIndex((o) => o.op === 'setns' && o.nstype === 'user'));
  assert.equal(ops(r, 'setgroups').length, 0);
  const allowed = execPlan({ namespaces: ns, unprivileged: true }, execFacts({ setgroupsDenied: false }));
  assert.deepEqual(ops(allowed, 'setgroups'), [{ op: 'setgroups', gids: [] }], 'the namespace\'s root only: no groups of the user\'s own');
});

// ---- cgroup joins: by clone3 CLONE_INTO_CGROUP or by a write (cloneInto) ----

const HYBRID = { v1: { cpu: '/sys/fs/cgroup/cpu/runa/c1', freezer: '/sys/fs/cgroup/freezer/runa/c1', pids: '/sys/fs/cgroup/pids/runa/c1' }, v2: '/sys/fs/cgroup/unified/runa/c1' };
const PURE_V2 = { v1: {}, v2: '/sys/fs/cgroup/runa/c1' };
/** The dirs a plan writes cgroup.procs of, before and after its fork, and the fork op itself. */
function joins(p: PlanOp[]): { before: string[]; fork: PlanOp; after: string[] } {
  const at = p.findIndex((o) => o.op === 'fork' || o.op === 'fork-sibling');
  const written = (q: PlanOp[]) => q.flatMap((o) => (o.op === 'write' && o.path.endsWith('/cgroup.procs') ? [o.path.slice(0, -'/cgroup.procs'.length)] : []));
  return { before: written(p.slice(0, at)), fork: p[at], after: written(p.slice(at + 1)) };
}

test('cgroup joins: the process is born in the cgroup2 directory (fork carries it), the v1 hierarchies are written; none is written twice', () => {
  const hybrid = cgroupDirs(null as never, HYBRID);
  assert.deepEqual(hybrid, { monitor: [HYBRID.v1.cpu], child: [HYBRID.v1.freezer, HYBRID.v1.pids, HYBRID.v2], cgroup2: HYBRID.v2 });
  // A new pid namespace is made by that clone (newPid), no longer unshared by the monitor.
  const p = plan(spec(), facts(), { cgroupDirs: hybrid });
  assert.deepEqual(joins(p),
    { before: [HYBRID.v1.cpu], fork: { op: 'fork', cgroup: HYBRID.v2, newPid: true }, after: [HYBRID.v1.freezer, HYBRID.v1.pids] }, 'hybrid: the monitor writes cpu, the child freezer and pids');
  assert.deepEqual(ops(p, 'unshare').map((o) => o.namespaces), [['ipc', 'uts', 'net'], ['cgroup'], ['mnt']]);
  const v2 = cgroupDirs(null as never, PURE_V2);
  assert.deepEqual(joins(plan(spec(), facts(), { cgroupDirs: v2 })), { before: [], fork: { op: 'fork', cgroup: PURE_V2.v2, newPid: true }, after: [] }, 'pure v2: no write at all');
  assert.deepEqual(joins(plan(spec(), facts(), { cgroupDirs: v2, supervised: true })).fork, { op: 'fork-sibling', cgroup: PURE_V2.v2, newPid: true });
  // No pid namespace of its own: the fork makes none.
  const hostPid = (s: any) => ({ ...s, linux: { ...s.linux, namespaces: s.linux.namespaces.filter((n: any) => n.type !== 'pid') } });
  assert.deepEqual(joins(plan(spec(hostPid), facts(), { cgroupDirs: v2 })).fork, { op: 'fork', cgroup: PURE_V2.v2 });
  // In a user namespace: the v1 writes right after the fork, while still host uid 0; then the cgroup namespace, then the namespace's root.
  const u = plan(spec((s) => withUserns(s)), facts(), { cgroupDirs: hybrid });
  assert.deepEqual(joins(u), { before: [HYBRID.v1.cpu], fork: { op: 'fork', cgroup: HYBRID.v2, newPid: true }, after: [HYBRID.v1.freezer, HYBRID.v1.pids] });
  const f = u.findIndex((o) => o.op === 'fork');
  assert.ok(u.findIndex((o) => o.op === 'userns') < f, 'the pid namespace is the user namespace\'s');
  assert.deepEqual(u.slice(f + 1, f + 6).map((o) => o.op), ['write', 'write', 'unshare', 'setgroups', 'setgid']);
  // Without one: pdeathsig first, as before; the cgroup namespace is made once every join is done.
  const g = p.findIndex((o) => o.op === 'fork');
  assert.deepEqual(p.slice(g + 1, g + 5), [{ op: 'pdeathsig', signal: 9 },
    { op: 'write', path: `${HYBRID.v1.freezer}/cgroup.procs`, value: '0' }, { op: 'write', path: `${HYBRID.v1.pids}/cgroup.procs`, value: '0' },
    { op: 'unshare', namespaces: ['cgroup'] }]);
  // Dirs without a cgroup2 one named (restore's, a v1 host's): every join a write, the fork plain, the pid namespace unshared by the monitor.
  const v1 = plan(spec(), facts(), { cgroupDirs: { monitor: [], child: [PURE_V2.v2] } });
  assert.deepEqual(joins(v1), { before: [], fork: { op: 'fork' }, after: [PURE_V2.v2] });
  assert.deepEqual(ops(v1, 'unshare').map((o) => o.namespaces), [['ipc', 'uts', 'net', 'pid'], ['cgroup'], ['mnt']]);
});

test('cgroup joins of an exec\'d process: born in the cgroup2 directory, unless execCPUAffinity.initial must hold until a join', () => {
  const dirs = cgroupDirs(null as never, HYBRID);
  assert.deepEqual(joins(execPlan({ cgroupDirs: dirs })), { before: [HYBRID.v1.cpu], fork: { op: 'fork', cgroup: HYBRID.v2 }, after: [HYBRID.v1.freezer, HYBRID.v1.pids] });
  assert.deepEqual(joins(execPlan({ cgroupDirs: dirs, namespaces: ['pid', 'user', 'mount'], supervised: true })).fork, { op: 'fork-sibling', cgroup: HYBRID.v2 });
  const proc = { ...spec().process, args: ['ps'], env: ['PATH=/bin'], user: { uid: 1000, gid: 1000 } };
  const p = execPlan({ cgroupDirs: dirs, process: { ...proc, execCPUAffinity: { initial: '0', final: '1' } } });
  assert.deepEqual(joins(p), { before: [HYBRID.v1.cpu], fork: { op: 'fork' }, after: [HYBRID.v1.freezer, HYBRID.v1.pids, HYBRID.v2] });
  const first = p.findIndex((o) => o.op === 'affinity');
  assert.deepEqual(p.slice(first, first + 5).map((o) => (o.op === 'write' ? o.path : o.op)),
    ['affinity', `${HYBRID.v1.freezer}/cgroup.procs`, `${HYBRID.v1.pids}/cgroup.procs`, `${HYBRID.v2}/cgroup.procs`, 'affinity'], 'initial CPUs, the joins, final CPUs');
  assert.deepEqual(joins(execPlan({ cgroupDirs: dirs, process: { ...proc, execCPUAffinity: { final: '1' } } })).fork, { op: 'fork', cgroup: HYBRID.v2 }, 'final alone: after the fork anyway');
});

// ---- --overlay2 (src/oci/plan/overlay.ts) ----

const OVL = `${STATE}/overlay`;
const withState = () => facts({ realpaths: { [STATE]: STATE } });
const writableRoot = (s: any) => ({ ...s, root: { ...s.root, readonly: false } });

test('overlay root: a tmpfs on the state dir (its shared parent made private first), the upper layer like the rootfs, the merged root pivoted into', () => {
  const p = plan(spec((s) => ({ ...writableRoot(s), linux: { ...s.linux, rootfsPropagation: 'rshared' } })), withState(), { overlay: 'root' });
  const tmpfs = p.findIndex((o) => o.op === 'mount' && o.target === OVL && o.fstype === 'tmpfs');
  const priv = p.findIndex((o) => o.op === 'mount' && o.target === '/run' && o.flags === MS.PRIVATE);
  assert.ok(priv >= 0 && priv < tmpfs, 'the shared /run (holding the state dir) is private before the tmpfs is mounted on it');
  assert.deepEqual(ops(p, 'mkdir-like'), [{ op: 'mkdir-like', path: `${OVL}/upper`, ref: ROOTFS }]);
  assert.deepEqual(mountsAt(p, `${OVL}/merged`), [{ op: 'mount', source: 'overlay', target: `${OVL}/merged`, fstype: 'overlay', flags: MS.NOSUID | MS.NODEV, data: `lowerdir=${ROOTFS},upperdir=${OVL}/upper,workdir=${OVL}/work` }], 'the rootfs\'s /run is nosuid,nodev: its overlay too');
  assert.deepEqual(mountsAt(p, ROOTFS), [], 'the rootfs itself is not bound');
  assert.deepEqual(ops(p, 'pivot_root'), [{ op: 'pivot_root', newRoot: `${OVL}/merged` }]);
  // A read-only root gets none (runsc), and `root` leaves binds alone.
  const ro = plan(spec(), withState(), { overlay: 'all' });
  assert.equal(ops(ro, 'mount').some((o) => o.fstype === 'overlay' || o.target === OVL), false);
  assert.deepEqual(ops(ro, 'pivot_root'), [{ op: 'pivot_root', newRoot: ROOTFS }]);
});

test('overlay all: each writable bind from its own overlay (a file from its directory\'s), keeping its source mount\'s nosuid, nodev, noexec; read-only binds stay binds', () => {
  const s = spec((x) => ({
    ...writableRoot(x), mounts: [...x.mounts,
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind'] },
      { destination: '/etc/afile', type: 'bind', source: '/run/afile', options: ['bind'] },
      { destination: '/ro', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] }],
  }));
  const n = s.mounts!.length;
  const p = plan(s, withState(), { overlay: 'all' });
  const locked = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  assert.deepEqual(mountsAt(p, `${OVL}/mounts/${n - 3}/merged`), [{ op: 'mount', source: 'overlay', target: `${OVL}/mounts/${n - 3}/merged`, fstype: 'overlay', flags: locked, data: `lowerdir=/srv/data,upperdir=${OVL}/mounts/${n - 3}/upper,workdir=${OVL}/mounts/${n - 3}/work` }]);
  assert.equal(mountsAt(p, `${OVL}/mounts/${n - 2}/merged`)[0].data, `lowerdir=/run,upperdir=${OVL}/mounts/${n - 2}/upper,workdir=${OVL}/mounts/${n - 2}/work`);
  assert.deepEqual(mountsAt(p, 'data')[0], { op: 'mount', source: `${OVL}/mounts/${n - 3}/merged`, target: 'data', fstype: '', flags: MS.BIND | MS.REC, data: '' });
  assert.equal(mountsAt(p, 'etc/afile')[0].source, `${OVL}/mounts/${n - 2}/merged/afile`);
  assert.equal(mountsAt(p, 'ro')[0].source, '/srv/data', 'a read-only bind is the host\'s');
  assert.deepEqual(ops(p, 'mkdir-like').map((o) => o.ref), [ROOTFS, '/srv/data'], 'a directory\'s upper layer looks like it; a file\'s directory\'s is never seen');
});

test('overlay in a user namespace: the rootfs and the binds are held from before it and attached in a tmpfs on the rootfs\'s path', () => {
  const s = spec((x) => withUserns({ ...writableRoot(x), mounts: [...x.mounts, { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind'] }] }));
  const p = plan(s, facts(), { overlay: 'all' });
  const holds = ops(p, 'hold');
  assert.deepEqual(holds.map((h) => h.path), ['/srv/data', ROOTFS]);
  assert.ok(mountsAt(p, ROOTFS).some((o) => o.fstype === 'tmpfs'));
  assert.deepEqual(ops(p, 'mount-held').map((o) => [o.index, o.target]), [[1, `${ROOTFS}/lower`], [0, `${ROOTFS}/mounts/${s.mounts!.length - 1}/lower`]]);
  assert.deepEqual(ops(p, 'pivot_root'), [{ op: 'pivot_root', newRoot: `${ROOTFS}/merged` }]);
  // A file held from before the namespace has no directory to overlay: refused.
  assert.throws(() => plan(spec((x) => withUserns({ ...writableRoot(x), mounts: [...x.mounts, { destination: '/f', type: 'bind', source: '/run/afile', options: ['bind'] }] })), facts(), { overlay: 'all' }),
    /--overlay2 all:memory: the source of the mount on \/f, the file \/run\/afile, is taken from before the container's user namespace/);
});

test('overlay refusals: no mount namespace of its own, and a layer path overlayfs cannot take', () => {
  assert.throws(() => plan(spec((s) => ({ ...writableRoot(s), linux: { ...s.linux, maskedPaths: [], readonlyPaths: [], namespaces: s.linux.namespaces.filter((n: any) => n.type !== 'mount') } })), withState(), { overlay: 'root' }),
    /--overlay2 root:memory: the container has no mount namespace/);
  assert.throws(() => plan(spec(writableRoot), facts({ realpaths: { [STATE]: STATE, '/run/b,c': '/run/b,c' }, stats: { '/run/b,c': dir() } }), { overlay: 'root', rootfs: '/run/b,c' }),
    /overlay: the root \/run\/b,c contains ',', ':' or '\\'/);
});
