// `run --no-pivot` and `create --no-pivot` (issue 28): instead of pivot_root, nsinit moves the
// rootfs onto / (MS_MOVE) and chroots into it, as runc does for a rootfs on ramfs or initramfs,
// after hiding the full proc and sysfs mounts outside the rootfs. Masked and read-only paths
// still apply; exec works; nothing is left mounted after delete, and the host's mounts stay.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, monitorOf } from './helpers/runa.js';

const sb = new Sandbox('no-pivot');
const BUSYBOX = '/bin/busybox';
const skip = fs.existsSync(BUSYBOX) ? false : 'busybox not installed: apt-get install busybox-static';
const MARK = `rootfs-${process.pid}`;
let rootfs = '';

before(() => {
  if (skip) return;
  // A busybox rootfs: the binary, its applets as symlinks, and a file that names it.
  rootfs = path.join(sb.dir, 'busybox-root');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'cat', 'ls', 'grep', 'stat', 'sleep', 'echo', 'wc', 'touch']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  fs.writeFileSync(path.join(rootfs, 'marker'), `${MARK}\n`);
});
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const hostMounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
const bundle = (args: string[], edit?: (s: any) => void) => sb.bundle(args, (s) => { s.root.path = rootfs; s.process.env = ['PATH=/bin']; edit?.(s); });

test('run --no-pivot: / is the rootfs, masked and read-only paths still apply, the host keeps its /proc and /sys', { skip }, async () => {
  const before = hostMounts().length;
  const script = [
    'cat /marker',
    'ls /',
    // linux.maskedPaths: a file gets /dev/null (1:3), a directory an empty tmpfs (/proc/kcore is
    // not on every kernel; /proc/keys is).
    'stat -c "keys %t:%T" /proc/keys',
    'echo "acpi $(ls -A /proc/acpi 2>/dev/null | wc -l)"',
    // linux.readonlyPaths
    'touch /proc/sys/kernel/hostname 2>/dev/null; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo sys-writable || echo sys-readonly',
    // the container's own procfs, its pid namespace
    'echo "pid $$"',
  ].join('; ');
  const r = await sb.run(['run', '--no-pivot', '-b', await bundle(['sh', '-c', script]), 'np1']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], MARK);
  assert.deepEqual(r.stdout.match(/^(bin|dev|etc|marker|proc|sys|tmp)$/gm)?.sort(), ['bin', 'dev', 'etc', 'marker', 'proc', 'sys', 'tmp']);
  assert.match(r.stdout, /^keys 1:3$/m);
  assert.match(r.stdout, /^acpi 0$/m);
  assert.match(r.stdout, /^sys-readonly$/m);
  assert.match(r.stdout, /^pid 1$/m);
  // The full proc and sysfs mounts nsinit took away were the container's mount namespace's only.
  const after = hostMounts();
  assert.ok(after.some((l) => l.split(' ')[4] === '/proc' && l.includes(' - proc ')), 'the host keeps /proc');
  assert.ok(after.some((l) => l.split(' ')[4] === '/sys' && l.includes(' - sysfs ')), 'the host keeps /sys');
  assert.equal(after.length, before, 'no mount left or lost on the host');
  assert.deepEqual(sb.mountsLeft(), []);
});

test('create --no-pivot, start, exec: the exec\'d process sees the same root; delete leaves nothing mounted', { skip }, async () => {
  const id = 'np2';
  const c = await sb.run(['create', '--no-pivot', '-b', await bundle(['sleep', '600']), id]);
  assert.equal(c.code, 0, c.stderr);
  try {
    assert.equal((await sb.run(['start', id])).code, 0);
    // The monitor is nsinit as it was spawned: the flag reached it.
    const pid = JSON.parse((await sb.run(['state', id])).stdout).pid as number;
    assert.deepEqual(fs.readFileSync(`/proc/${monitorOf(pid)}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1, 2), ['--no-pivot']);
    const e = await sb.run(['exec', id, 'sh', '-c', 'cat /marker; stat -c "keys %t:%T" /proc/keys']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, `${MARK}\nkeys 1:3\n`);
  } finally {
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  }
  assert.deepEqual(sb.mountsLeft(), []);
  assert.equal((await sb.run(['state', id])).code, 1);
});

test('--no-pivot with a private root propagation is refused before anything is made (runc)', { skip }, async () => {
  const r = await sb.run(['run', '--no-pivot', '-b', await bundle(['true'], (s) => { s.linux.rootfsPropagation = 'private'; }), 'np3']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /rootfsPropagation of \[r\]private is not safe without pivot_root/);
  assert.equal((await sb.run(['state', 'np3'])).code, 1);
});
