// Regression tests named after the CVEs of other runtimes that runa's design must not repeat.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until, repo } from './helpers/runa.js';
import { consoleReceiver, havePython } from './helpers/console.js';

const sb = new Sandbox('cve');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const hash = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('CVE-2019-5736: a container never reaches the host\'s nsinit through /proc/<pid>/exe while processes are exec\'d into it', async () => {
  const nsinit = path.join(repo, 'native', 'nsinit');
  const before = hash(nsinit);
  const dir = path.join(sb.dir, 'k');
  fs.mkdirSync(dir);
  // Root in the container (without CAP_SYS_PTRACE, as by default) watches every process it can
  // see, as the exploit did, for one whose executable is the host's runtime binary.
  const watcher = 'touch /k/ready; while :; do ls -l /proc/[0-9]*/exe 2>/dev/null | grep -e nsinit -e node >> /k/seen; done';
  const bundle = await sb.bundle(['sh', '-c', watcher], (spec) => {
    spec.mounts.push({ destination: '/k', type: 'bind', source: dir, options: ['rbind', 'rw'] });
  });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'cve5736'])).code, 0);
  await until(() => fs.existsSync(path.join(dir, 'ready')), 'the watcher');
  for (let i = 0; i < 60; i++) {
    const r = await sb.run(['exec', 'cve5736', 'true']);
    assert.equal(r.code, 0, r.stderr);
  }
  const seen = fs.existsSync(path.join(dir, 'seen')) ? fs.readFileSync(path.join(dir, 'seen'), 'utf8') : '';
  assert.equal(seen, '', 'no process of the runtime was reachable from the container');
  assert.equal((await sb.run(['delete', '-f', 'cve5736'])).code, 0);
  assert.equal(hash(nsinit), before, 'the host binary is unchanged');
});

test('CVE-2022-29162: an exec\'d process gets no inheritable capabilities beyond the spec\'s, --cap included', async () => {
  const bundle = await sb.bundle(['sleep', '7400']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'cve29162'])).code, 0);
  const caps = async (args: string[]) => {
    const r = await sb.run(['exec', ...args, 'cve29162', 'grep', '-e', 'CapInh', '-e', 'CapEff', '/proc/self/status']);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)).map(([k, v]) => [k, BigInt(`0x${v}`)]));
  };
  const plain = await caps([]);
  assert.equal(plain.CapInh, 0n, 'runc\'s default spec gives no inheritable capability');
  const added = await caps(['--cap', 'CAP_SYS_ADMIN']);
  assert.equal(added.CapInh, 0n, '--cap does not make a capability inheritable');
  assert.notEqual(added.CapEff & (1n << 21n), 0n, '--cap made CAP_SYS_ADMIN effective');
  assert.equal((await sb.run(['delete', '-f', 'cve29162'])).code, 0);
});

/** A private copy of the sandbox's rootfs (symlinks kept), for a test that plants things in it. */
test('CVE-2024-21626: no host fd reaches an exec\'d process or the init, and a cwd through /proc/self/fd never leads to the host', async () => {
  const bundle = await sb.bundle(['sleep', '7401']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'cve21626'])).code, 0);
  // The fds of the exec'd process, of the init, and where each one leads.
  const fds = async (pid: string) => {
    const r = await sb.run(['exec', 'cve21626', 'sh', '-c', `ls -l /proc/${pid}/fd`]);
    assert.equal(r.code, 0, r.stderr);
    return [...r.stdout.matchAll(/ (\d+) -> (.*)$/gm)].filter((m) => Number(m[1]) > 2).map((m) => `${m[1]} -> ${m[2]}`);
  };
  assert.deepEqual(await fds('$$'), [], 'an exec\'d process holds only stdio');
  assert.deepEqual(await fds('1'), [], 'the init holds only stdio');
  // runc's exploit: a working directory at /proc/self/fd/N, a directory fd of the host's.
  for (const n of [3, 4, 5, 6, 7, 8]) {
    const r = await sb.run(['exec', '--cwd', `/proc/self/fd/${n}`, 'cve21626', 'sh', '-c', 'cat ./etc/hostname 2>/dev/null; pwd -P']);
    if (r.code === 0) assert.doesNotMatch(r.stdout, new RegExp(fs.readFileSync('/etc/hostname', 'utf8').trim() || '^$^'), `cwd /proc/self/fd/${n} led to the host`);
  }
  assert.equal((await sb.run(['delete', '-f', 'cve21626'])).code, 0);
});

async function ownRootfs(name: string): Promise<string> {
  const dir = path.join(sb.dir, name);
  fs.cpSync(await sb.rootfs(), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

/** Lines of the host's mountinfo whose mount point is `dir` or below it. */
const hostMountsUnder = (dir: string) =>
  fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => {
    const point = l.split(' ')[4] ?? '';
    return point === dir || point.startsWith(dir + '/');
  });

/** Renames `a` and `b` into each other's place (renameat2 RENAME_EXCHANGE) as fast as it can, until killed. */
function exchanger(a: string, b: string): ChildProcess {
  const script = [
    'import ctypes, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'a, b = sys.argv[1].encode(), sys.argv[2].encode()',
    'while True: libc.renameat2(-100, a, -100, b, 2)',
  ].join('\n');
  return spawn('python3', ['-c', script, a, b], { stdio: 'ignore' });
}

test('CVE-2021-30465: mounts into a volume whose directory and symlink are swapped meanwhile never land outside the rootfs', { skip: !havePython() && 'python3 races the swap', timeout: 120_000 }, async (t) => {
  // The volume is shared (another container could do the swapping; a host process does it here).
  const vol = path.join(sb.dir, 'mnt-vol');
  const outside = path.join(sb.dir, 'mnt-outside'); // the host directory the symlink points at
  fs.mkdirSync(path.join(vol, 'x'), { recursive: true });
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(vol, 'l'));
  const bundle = await sb.bundle(['true'], (spec) => {
    spec.mounts.push({ destination: '/vol', type: 'bind', source: vol, options: ['rbind', 'rw'] });
    for (const d of ['d1', 'd2', 'd3']) spec.mounts.push({ destination: `/vol/x/${d}`, type: 'tmpfs', source: 'tmpfs', options: ['size=64k'] });
    spec.mounts.push({ destination: '/vol/x/f', type: 'bind', source: '/etc/hostname', options: ['bind', 'ro'] });
  });
  const racer = exchanger(path.join(vol, 'x'), path.join(vol, 'l'));
  let created = 0;
  try {
    for (let i = 0; i < 30; i++) {
      const id = `mnt-cve30465-${i}`;
      const r = await sb.run(['create', '-b', bundle, id]);
      if (r.code === 0) created++;
      // Either way, nothing may have reached the host directory.
      assert.deepEqual(fs.readdirSync(outside), [], `after create ${i} (${r.code === 0 ? 'created' : r.stderr.trim()})`);
      assert.deepEqual(hostMountsUnder(outside), []);
      if (r.code === 0) assert.equal((await sb.run(['delete', '-f', id])).code, 0);
    }
  } finally {
    racer.kill('SIGKILL');
  }
  assert.deepEqual(fs.readdirSync(outside), [], 'the host directory stayed empty');
  assert.deepEqual(hostMountsUnder(outside), [], 'and nothing is mounted on it');
  t.diagnostic(`${created} of 30 creates succeeded`);
});

test('CVE-2025-31133: a /dev/null that is a symlink is never bound over a masked path', async () => {
  const rootfs = await ownRootfs('mnt-rootfs-31133');
  // No tmpfs on /dev: the rootfs's own /dev is used, and its null points at a host-global sysctl.
  fs.symlinkSync('/proc/sys/kernel/core_pattern', path.join(rootfs, 'dev', 'null'));
  const pattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
  // /etc/hostname as well as the usual /proc files: one masked file that every kernel has.
  const show = 'for f in /etc/hostname /proc/keys /proc/sys/kernel/core_pattern; do stat -L -c "$f %d:%i" $f; done; echo "hostname=[$(cat /etc/hostname)]"';
  const bundle = await sb.bundle(['sh', '-c', show], (spec) => {
    spec.root.path = rootfs;
    spec.mounts = spec.mounts.filter((m: { destination: string }) => !m.destination.startsWith('/dev'));
    spec.linux.maskedPaths.push('/etc/hostname');
  });
  const r = await sb.run(['run', '-b', bundle, 'mnt-cve31133']);
  if (r.code !== 0) {
    // Refusing is fine, as long as it says why.
    assert.match(r.stderr, /mask "[^"]+": "\/dev\/null" .*refused/);
  } else {
    const ids = Object.fromEntries(r.stdout.trim().split('\n').filter((l) => l.startsWith('/')).map((l) => l.split(' ')));
    assert.notEqual(ids['/etc/hostname'], ids['/proc/sys/kernel/core_pattern'], '/etc/hostname is not the host\'s core_pattern');
    assert.notEqual(ids['/proc/keys'], ids['/proc/sys/kernel/core_pattern'], '/proc/keys is not the host\'s core_pattern');
    assert.match(r.stdout, /^hostname=\[\]$/m, '/etc/hostname is masked empty');
  }
  assert.equal(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), pattern);
  await sb.run(['delete', '-f', 'mnt-cve31133']);
});

test('CVE-2025-52565: /dev/console, /dev/ptmx and /dev/pts symlinks in the rootfs bind nothing for a terminal container', { skip: !havePython() && 'python3 is needed for the receiver' }, async () => {
  const rootfs = await ownRootfs('mnt-rootfs-52565');
  const outside = path.join(sb.dir, 'mnt-console-target');
  fs.writeFileSync(outside, 'host file\n', { mode: 0o600 });
  const dev = path.join(rootfs, 'dev');
  assert.equal(spawnSync('mknod', ['-m', '666', path.join(dev, 'null'), 'c', '1', '3']).status, 0);
  fs.symlinkSync(outside, path.join(dev, 'console'));
  fs.symlinkSync('pts/ptmx', path.join(dev, 'ptmx'));
  fs.mkdirSync(path.join(dev, 'pts'));
  // Hidden by the devpts mount, unless a pty were looked up by name before it is mounted.
  for (let n = 0; n < 8; n++) fs.symlinkSync(outside, path.join(dev, 'pts', String(n)));
  const { socket, received } = await consoleReceiver(sb.dir, 'mnt-52565.sock');
  received.catch(() => {}); // nothing arrives when create fails
  const bundle = await sb.bundle(['sh', '-c', '[ -t 0 ] && echo stdio-is-tty; readlink /proc/self/fd/0; readlink /dev/console; grep -c " /dev/console " /proc/self/mountinfo'], (spec) => {
    spec.root.path = rootfs;
    spec.process.terminal = true;
    // The rootfs's own /dev (its console symlink visible), with a devpts on /dev/pts.
    spec.mounts = spec.mounts.filter((m: { destination: string }) => m.destination !== '/dev');
  });
  const r = await sb.run(['run', '-d', '--console-socket', socket, '-b', bundle, 'mnt-cve52565']);
  if (r.code === 0) {
    const got = await received;
    assert.equal(got.isatty, true);
    assert.match(got.output, /stdio-is-tty/);
    assert.match(got.output, /^\/dev\/pts\/\d+\r?$/m, 'stdio is a pty of the container\'s devpts');
    assert.match(got.output, new RegExp(`^${outside}\\r?$`, 'm'), '/dev/console is still the rootfs\'s symlink');
    assert.match(got.output, /^0\r?$/m, 'nothing is mounted on /dev/console');
  } else {
    assert.match(r.stderr, /console|ptmx|pts/, r.stderr);
  }
  assert.equal(fs.readFileSync(outside, 'utf8'), 'host file\n');
  assert.equal(fs.statSync(outside).mode & 0o777, 0o600);
  assert.deepEqual(hostMountsUnder(outside), []);
  await sb.run(['delete', '-f', 'mnt-cve52565']);
});

test('/proc and /sys that are symlinks in the rootfs are refused (runc\'s CVE-2019-16884 class)', async () => {
  const outside = path.join(sb.dir, 'mnt-special-target');
  fs.mkdirSync(outside);
  for (const dir of ['proc', 'sys']) {
    const rootfs = await ownRootfs(`mnt-rootfs-${dir}`);
    fs.rmSync(path.join(rootfs, dir), { recursive: true });
    fs.symlinkSync(outside, path.join(rootfs, dir));
    const bundle = await sb.bundle(['true'], (spec) => { spec.root.path = rootfs; });
    const r = await sb.run(['create', '-b', bundle, `mnt-special-${dir}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${dir === 'proc' ? 'proc' : 'sysfs'} mount destination /${dir} is a symlink in the rootfs: refused`));
    assert.deepEqual(fs.readdirSync(outside), []);
    assert.deepEqual(hostMountsUnder(outside), []);
  }
});
