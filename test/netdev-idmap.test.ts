// linux.netDevices (host interfaces moved into the container) and idmapped mounts (a mount's
// uidMappings/gidMappings, runc's idmap/ridmap options), seen from inside the container and from
// the host; and their refusals, which leave nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until } from './helpers/runa.js';

const sb = new Sandbox('netdev');
const haveIp = spawnSync('ip', ['-V']).status === 0;
const tag = (process.pid % 100000).toString(36);
/** Interfaces this file made (unique names): removed in `after` if still there. */
const made: string[] = [];

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
}
const hostHas = (name: string) => fs.existsSync(`/sys/class/net/${name}`);
/**
 * A virtual interface of the host's with a unique name: a dummy, or where the kernel has none a
 * veth pair (its peer, NAME + "p", stays on the host). Returns the name to move.
 */
const dummyOk = spawnSync('ip', ['link', 'add', `rd${tag}probe`, 'type', 'dummy']).status === 0;
if (dummyOk) spawnSync('ip', ['link', 'del', `rd${tag}probe`]);
function dummy(suffix: string): string {
  const name = `rd${tag}${suffix}`.slice(0, 13);
  if (dummyOk) ip('link', 'add', name, 'type', 'dummy');
  else {
    ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
    made.push(`${name}p`);
  }
  made.push(name);
  return name;
}
/** Nothing of the interface NAME (or its veth peer) left on the host. */
const allGone = (name: string) => !hostHas(name) && !hostHas(`${name}p`);

/** The kernel has the new mount API with idmapped mounts (mount_setattr, Linux 5.12). */
const idmapSkip = (() => {
  const [maj, min] = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').split('.').map(Number);
  return maj > 5 || (maj === 5 && min >= 12) ? false : 'needs idmapped mounts (Linux 5.12)';
})();

after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  for (const name of made) if (hostHas(name)) spawnSync('ip', ['link', 'del', name]);
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

let n = 0;
async function refused(edit: (s: any) => void, message: RegExp) {
  const bundle = await sb.bundle(['true'], edit);
  const id = `bad${++n}`;
  const r = await sb.run(['create', '-b', bundle, id]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.equal(fs.existsSync(path.join(sb.root, id)), false, 'nothing left behind');
}

// ---- linux.netDevices ----

test('netDevices: a host interface moves in renamed, with its address, up; gone from the host while the container runs, destroyed with its namespace (a virtual one)', { skip: haveIp ? false : 'needs iproute2 (ip)' }, async () => {
  const host = dummy('a');
  ip('addr', 'add', '192.0.2.77/24', 'dev', host);
  const v6 = fs.existsSync('/proc/net/if_inet6') && spawnSync('ip', ['addr', 'add', '2001:db8::77/64', 'dev', host, 'nodad']).status === 0;
  const bundle = await sb.bundle(['sh', '-c', 'ls /sys/class/net; cat /sys/class/net/ctr0/operstate /sys/class/net/ctr0/flags; grep -c 192.0.2.77 /proc/net/fib_trie; sleep 1000'], (s) => {
    s.linux.netDevices = { [host]: { name: 'ctr0' } };
  });
  const id = `nd${++n}`;
  const r = await sb.run(['run', '-d', '-b', bundle, id]);
  assert.equal(r.code, 0, r.stderr);
  try {
    assert.equal(hostHas(host), false, 'gone from the host while the container runs');
    const state = JSON.parse((await sb.run(['state', id])).stdout);
    const names = fs.readdirSync(`/proc/${state.pid}/root/sys/class/net`).sort();
    assert.deepEqual(names, ['ctr0', 'lo']);
    // The flags: IFF_UP (0x1) set; the address came along.
    const flags = Number(fs.readFileSync(`/proc/${state.pid}/root/sys/class/net/ctr0/flags`, 'utf8'));
    assert.equal(flags & 1, 1, 'up');
    const trie = spawnSync('nsenter', ['-t', String(state.pid), '-n', 'cat', '/proc/net/fib_trie'], { encoding: 'utf8' }).stdout;
    assert.match(trie, /192\.0\.2\.77/);
    if (v6) {
      const inet6 = spawnSync('nsenter', ['-t', String(state.pid), '-n', 'cat', '/proc/net/if_inet6'], { encoding: 'utf8' }).stdout;
      assert.match(inet6, /^20010db8000000000000000000000077 .* ctr0$/m, 'the IPv6 address came along');
    }
  } finally {
    assert.equal((await sb.run(['delete', '--force', id])).code, 0);
  }
  // runtime-spec 1.3: the runtime does not move it back; the kernel destroys a virtual device with
  // the namespace (a physical one would return to the host by itself).
  await until(() => allGone(host) && !hostHas('ctr0'), 'the interface to go with its namespace', 5000);
});

test('netDevices: without a new name the interface keeps its own; a %d template is completed by the kernel', { skip: haveIp ? false : 'needs iproute2 (ip)' }, async () => {
  const a = dummy('b');
  const b = dummy('c');
  const bundle = await sb.bundle(['sh', '-c', 'ls /sys/class/net'], (s) => {
    s.linux.netDevices = { [a]: {}, [b]: { name: 'eth%d' } };
  });
  const r = await sb.run(['run', '-b', bundle, `nd${++n}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split(/\s+/).sort(), [a, 'eth0', 'lo'].sort());
  await until(() => allGone(a) && allGone(b), 'the interfaces to go with their namespace', 5000);
});

test('netDevices: into a network namespace joined by path, where it stays after delete (the namespace is not the container\'s to end)', { skip: haveIp ? false : 'needs iproute2 (ip)' }, async () => {
  const host = dummy('j');
  // A network namespace held by a process of the test's (ip netns would leave /run/netns mounted).
  const holder = spawn('unshare', ['--net', 'sleep', '1000'], { stdio: 'ignore' });
  try {
    const nsPath = `/proc/${holder.pid}/ns/net`;
    await until(() => fs.readlinkSync(nsPath) !== fs.readlinkSync('/proc/self/ns/net'), 'the holder to be in its namespace');
    const bundle = await sb.bundle(['sh', '-c', 'ls /sys/class/net'], (s) => {
      s.linux.namespaces = s.linux.namespaces.map((x: any) => (x.type === 'network' ? { type: 'network', path: nsPath } : x));
      s.linux.netDevices = { [host]: { name: 'joined0' } };
    });
    const r = await sb.run(['run', '-b', bundle, `nd${++n}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split(/\s+/).sort(), ['joined0', 'lo']);
    assert.equal(hostHas(host), false);
    const there = spawnSync('nsenter', ['-t', String(holder.pid), '-n', 'cat', '/proc/net/dev'], { encoding: 'utf8' }).stdout;
    assert.match(there, /^\s*joined0:/m, 'still in the joined namespace after delete');
  } finally {
    holder.kill('SIGKILL');
  }
  await until(() => allGone(host), 'the interface to go with the namespace', 5000);
});

test('netDevices: into a container with a user namespace of its own (the helper moves it with the runtime\'s capabilities)', { skip: haveIp ? false : 'needs iproute2 (ip)' }, async () => {
  fs.chmodSync(sb.dir, 0o755);
  const rootfs = await sb.rootfs();
  for (let d = rootfs; d !== sb.dir; d = path.dirname(d)) fs.chmodSync(d, 0o755);
  const host = dummy('u');
  const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const bundle = await sb.bundle(['sh', '-c', 'ls /sys/class/net; cat /sys/class/net/uns0/flags'], (s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = MAP;
    s.linux.gidMappings = MAP;
    s.linux.netDevices = { [host]: { name: 'uns0' } };
  });
  const r = await sb.run(['run', '-b', bundle, `nd${++n}`]);
  assert.equal(r.code, 0, r.stderr);
  const [a, b, flags] = r.stdout.trim().split(/\s+/);
  assert.deepEqual([a, b], ['lo', 'uns0']);
  assert.equal(Number(flags) & 1, 1, 'up');
  await until(() => allGone(host), 'the interface to go with its namespace', 5000);
});

test('netDevices: refusals before anything is created (runc\'s words), and the interface stays on the host', { skip: haveIp ? false : 'needs iproute2 (ip)' }, async () => {
  const host = dummy('d');
  const other = dummy('e');
  const noNet = (s: any) => { s.linux.namespaces = s.linux.namespaces.filter((x: any) => x.type !== 'network'); };
  await refused((s) => { noNet(s); s.linux.netDevices = { [host]: {} }; }, /linux\.netDevices: unable to move network devices without a NET namespace/);
  await refused((s) => { s.linux.netDevices = { [`nx${tag}`]: {} }; }, new RegExp(`link not found for interface nx${tag} on runtime namespace`));
  await refused((s) => { s.linux.netDevices = { [host]: { name: 'a/b' } }; }, /invalid network device name "a\/b"/);
  await refused((s) => { s.linux.netDevices = { [host]: { name: 'x'.repeat(16) } }; }, /invalid network device name "x{16}"/);
  await refused((s) => { s.linux.netDevices = { [host]: { name: 'a b' } }; }, /invalid network device name "a b"/);
  await refused((s) => { s.linux.netDevices = { '': {} }; }, /invalid network device name ""/);
  await refused((s) => { s.linux.netDevices = { [host]: { name: 'same' }, [other]: { name: 'same' } }; }, /would both be named "same"/);
  await refused((s) => { s.linux.netDevices = { [host]: {}, [other]: { name: host } }; }, /would both be named/);
  // "lo" is in every new network namespace: refused before the move (the kernel would move the
  // interface in under its own name, then refuse the rename, and the interface would go with it).
  await refused((s) => { s.linux.netDevices = { [host]: { name: 'lo' } }; }, new RegExp(`netdev "${host}": "lo" already exists in the container's network namespace: File exists`));
  assert.equal(hostHas(host), true, 'still on the host');
  assert.equal(hostHas(other), true);
});

// ---- idmapped mounts ----

/** A host directory tree owned by uid:gid 1000:1000 (with a file), for binds. */
function ownedTree(name: string): string {
  const dir = path.join(sb.dir, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  fs.chownSync(dir, 1000, 1000);
  fs.chownSync(path.join(dir, 'file'), 1000, 1000);
  return dir;
}
/**
 * On-disk uid/gid 1000 seen as 0 through the mount. A mount's mappings are its user namespace's
 * (runc, crun): containerID is the id on the source file system, hostID the id it is seen as.
 */
const MAP_1000_TO_0 = [{ containerID: 1000, hostID: 0, size: 1 }];

test('idmapped mount: host uid 1000 seen as 0 through the mount\'s own mappings, without a user namespace', { skip: idmapSkip }, async () => {
  const src = ownedTree('idm1');
  const bundle = await sb.bundle(['sh', '-c', 'stat -c "%u:%g" /mnt/data /mnt/data/file; touch /mnt/data/new; stat -c "%u:%g" /mnt/data/new; stat -c "%u:%g" /plain/file'], (s) => {
    s.mounts.push({ destination: '/mnt/data', type: 'bind', source: src, options: ['bind'], uidMappings: MAP_1000_TO_0, gidMappings: MAP_1000_TO_0 });
    s.mounts.push({ destination: '/plain', type: 'bind', source: src, options: ['bind'] });
  });
  const r = await sb.run(['run', '-b', bundle, `im${++n}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['0:0', '0:0', '0:0', '1000:1000']);
  // A file root made through the mapping is host uid 1000's.
  const st = fs.statSync(path.join(src, 'new'));
  assert.deepEqual([st.uid, st.gid], [1000, 1000]);
});

test('idmapped mount: `idmap` takes the container\'s user namespace maps', { skip: idmapSkip }, async () => {
  fs.chmodSync(sb.dir, 0o755);
  const rootfs = await sb.rootfs();
  for (let d = rootfs; d !== sb.dir; d = path.dirname(d)) fs.chmodSync(d, 0o755);
  const src = ownedTree('idm2');
  const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const bundle = await sb.bundle(['sh', '-c', 'stat -c "%u:%g" /mnt/data/file /plain/file'], (s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = MAP;
    s.linux.gidMappings = MAP;
    s.mounts.push({ destination: '/mnt/data', type: 'bind', source: src, options: ['bind', 'idmap'] });
    s.mounts.push({ destination: '/plain', type: 'bind', source: src, options: ['bind'] });
  });
  const r = await sb.run(['run', '-b', bundle, `im${++n}`]);
  assert.equal(r.code, 0, r.stderr);
  // Host uid 1000 is not mapped in the container (a plain bind shows the overflow id); through the
  // idmapped mount the container's own maps are applied to the file first: it shows as 1000.
  assert.deepEqual(r.stdout.trim().split('\n'), ['1000:1000', '65534:65534']);
});

test('ridmap: the whole rbind tree is idmapped; idmap only its top', { skip: idmapSkip }, async (t) => {
  const src = ownedTree('idm3');
  const sub = path.join(src, 'sub');
  fs.mkdirSync(sub);
  const r0 = spawnSync('mount', ['-t', 'tmpfs', '-o', 'uid=1000,gid=1000,mode=755', 'tmpfs', sub]);
  if (r0.status !== 0) return t.skip('cannot mount a tmpfs');
  try {
    // tmpfs takes idmapped mounts from Linux 6.3.
    const [maj, min] = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').split('.').map(Number);
    if (maj < 6 || (maj === 6 && min < 3)) return t.skip('tmpfs idmapped mounts need Linux 6.3');
    const run = async (opt: string) => {
      const bundle = await sb.bundle(['sh', '-c', 'stat -c "%u" /mnt/data /mnt/data/sub'], (s) => {
        s.mounts.push({ destination: '/mnt/data', type: 'bind', source: src, options: ['rbind', opt], uidMappings: MAP_1000_TO_0, gidMappings: MAP_1000_TO_0 });
      });
      const r = await sb.run(['run', '-b', bundle, `im${++n}`]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n');
    };
    assert.deepEqual(await run('ridmap'), ['0', '0']);
    assert.deepEqual(await run('idmap'), ['0', '1000']);
  } finally {
    spawnSync('umount', [sub]);
  }
});

test('idmapped mounts: refusals in runc\'s words, bad ranges naming the field, an unsupporting file system with the errno', { skip: idmapSkip }, async () => {
  const src = ownedTree('idm4');
  const bind = (extra: any) => (s: any) => { s.mounts.push({ destination: '/mnt/data', type: 'bind', source: src, options: ['bind'], ...extra }); };
  await refused((s) => { s.mounts.push({ destination: '/mnt/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }); }, /mounts\.\d+: id-mapped mounts are only supported for bind-mounts/);
  await refused((s) => { s.mounts.push({ destination: '/mnt/t', type: 'tmpfs', source: 'tmpfs', uidMappings: MAP_1000_TO_0, gidMappings: MAP_1000_TO_0 }); }, /id-mapped mounts are only supported for bind-mounts/);
  await refused(bind({ options: ['bind', 'idmap'] }), /id-mapped mounts must have both uid and gid mappings specified/);
  await refused(bind({ uidMappings: MAP_1000_TO_0 }), /id-mapped mounts must have both uid and gid mappings specified/);
  await refused(bind({ uidMappings: [{ containerID: 0, hostID: 1000, size: 0 }], gidMappings: MAP_1000_TO_0 }), /mounts\.\d+\.uidMappings\.0\.size/);
  await refused(bind({ uidMappings: [{ containerID: 4294967295, hostID: 1000, size: 2 }], gidMappings: MAP_1000_TO_0 }), /mounts\.\d+\.uidMappings\.0: containerID 4294967295 \+ size 2 overflows 2\^32/);
  await refused(bind({ uidMappings: MAP_1000_TO_0, gidMappings: [{ containerID: 0, hostID: 4294967000, size: 1000 }] }), /mounts\.\d+\.gidMappings\.0: hostID 4294967000 \+ size 1000 overflows 2\^32/);
  await refused(bind({ uidMappings: [{ containerID: 0, hostID: 1000, size: 10 }, { containerID: 5, hostID: 2000, size: 10 }], gidMappings: MAP_1000_TO_0 }), /uidMappings\.1: container ids 5\+10 overlap mapping 0/);
  await refused(bind({ uidMappings: [{ containerID: 0, hostID: 1000, size: 10 }, { containerID: 50, hostID: 1005, size: 10 }], gidMappings: MAP_1000_TO_0 }), /uidMappings\.1: host ids 1005\+10 overlap mapping 0/);
  // sysfs does not take idmapped mounts: the kernel's EINVAL, with the source.
  await refused((s) => {
    s.mounts.push({ destination: '/mnt/sys', type: 'bind', source: '/sys/kernel', options: ['rbind'], uidMappings: MAP_1000_TO_0, gidMappings: MAP_1000_TO_0 });
  }, /idmapped mount of "\/sys\/kernel": mount_setattr MOUNT_ATTR_IDMAP \(its file system may not support idmapped mounts on this kernel\): Invalid argument/);
});
