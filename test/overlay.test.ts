// --overlay and --overlay2 (runsc's): a container's root file system, and with `all` its writable
// bind mounts, under a writable in-memory layer. What it writes stays in that layer (exec and the
// gofer see it, the bundle and the host never do), the layer goes with the container, and bad
// values are refused with nothing made.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BusClient } from '../src/bus/client.js';
import { Sandbox, alive, runaBin, sleep } from './helpers/runa.js';
import { makeRootfs } from './helpers/rootfs.js';
import { runToFiles } from './helpers/users.js';
import { Podman, nothingLeft, show } from './helpers/callers.js';
import { IMAGE, busyboxMissing, writeBusyboxImage } from './helpers/oci-image.js';

const sb = new Sandbox('overlay');
const clients: BusClient[] = [];
let rootfs: string;

before(async () => {
  // A container with a user namespace must reach the rootfs and the binds (mkdtemp makes the sandbox 0700).
  fs.chmodSync(sb.dir, 0o755);
  rootfs = await sb.rootfs();
  fs.writeFileSync(path.join(rootfs, 'etc', 'overlay-test'), 'orig\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'overlay-remove'), 'gone?\n');
  assert.equal((await sb.run(['delete', '-f', 'warmup'])).code, 0); // starts the daemon
});
after(async () => {
  for (const c of clients) c.close();
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

/** Every entry of a tree: its path, type, mode, owner, size, mtime, and its content's or link's hash. */
function treeHash(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p, { bigint: true });
      h.update(`${path.relative(dir, p)} ${st.mode} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs}\n`);
      if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
      else if (st.isFile()) h.update(fs.readFileSync(p));
      else if (st.isDirectory()) walk(p);
    }
  };
  const st = fs.lstatSync(dir, { bigint: true });
  h.update(`. ${st.mode} ${st.uid}:${st.gid} ${st.mtimeNs}\n`);
  walk(dir);
  return h.digest('hex');
}

/** The mounts a namespace has that concern this sandbox (its state root, rootfs, binds). */
const ours = (mountinfo: string) => mountinfo.split('\n').filter((l) => l.includes(sb.dir));
const hostMounts = () => ours(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
const daemonMounts = () => ours(fs.readFileSync(`/proc/${sb.daemonPid()}/mountinfo`, 'utf8'));

const writable = (s: any) => { s.root.readonly = false; };

/** The processes (in any mount namespace) that have an overlay of this sandbox's `ov*` containers mounted. */
const holders = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
  try { return fs.readFileSync(`/proc/${p}/mountinfo`, 'utf8').includes(`${sb.root}/ov`); } catch { return false; }
});

test('--overlay: writes into /, /etc and /bin stay in memory; exec and the gofer see them, the bundle and a second container never; delete leaves no mount', async () => {
  const before = treeHash(rootfs);
  const [host0, daemon0] = [hostMounts(), daemonMounts()];
  const bundle = await sb.bundle(['sleep', '1000'], writable);
  assert.equal((await sb.run(['--overlay', 'run', '-d', '-b', bundle, 'ov1'])).code, 0);
  const w = await sb.run(['exec', 'ov1', 'sh', '-c', 'echo one > /new && echo two > /etc/new && echo three > /bin/new && echo changed > /etc/overlay-test && rm /etc/overlay-remove && mkdir -p /var/lib/deep && echo four > /var/lib/deep/f']);
  assert.equal(w.code, 0, w.stderr);
  const r = await sb.run(['exec', 'ov1', 'sh', '-c', 'cat /new /etc/new /bin/new /etc/overlay-test /var/lib/deep/f; ls /etc/overlay-remove 2>&1; grep " / / " /proc/self/mountinfo']);
  const lines = r.stdout.split('\n');
  assert.deepEqual(lines.slice(0, 5), ['one', 'two', 'three', 'changed', 'four']);
  assert.match(lines[5], /No such file/);
  assert.match(lines[6], / \/ \/ rw\S* .*- overlay overlay /, 'the root is an overlay');

  // The gofer serves the container's view: the overlay's files, and its writes land there too.
  const c = await BusClient.connect(path.join(sb.root, 'runa.sock'));
  clients.push(c);
  const file = (request: any) => c.request<any>({ type: 'container.file', id: 'ov1', request });
  assert.equal(Buffer.from((await file({ op: 'read', path: '/etc/new' })).data, 'base64').toString(), 'two\n');
  assert.equal(Buffer.from((await file({ op: 'read', path: '/etc/overlay-test' })).data, 'base64').toString(), 'changed\n');
  await file({ op: 'write', path: '/etc/from-gofer', data: Buffer.from('gofer\n').toString('base64') });
  assert.equal((await sb.run(['exec', 'ov1', 'cat', '/etc/from-gofer'])).stdout, 'gofer\n');

  // Nothing reached the bundle, nor the host's or the daemon's mount table.
  assert.equal(treeHash(rootfs), before, 'the rootfs is unchanged while the container runs');
  assert.deepEqual(hostMounts(), host0, 'no mount on the host while it runs');
  assert.deepEqual(daemonMounts(), daemon0, 'no mount in the daemon\'s namespace while it runs');
  assert.ok(holders().length > 0, 'only the container\'s processes have it');

  // A second container from the same bundle starts from the bundle, not from the first one's layer.
  assert.equal((await sb.run(['--overlay', 'run', '-d', '-b', bundle, 'ov2'])).code, 0);
  const second = await sb.run(['exec', 'ov2', 'sh', '-c', 'cat /etc/overlay-test /etc/overlay-remove; ls /new /etc/new /bin/new /etc/from-gofer 2>&1 | grep -c "No such file"']);
  assert.equal(second.stdout, 'orig\ngone?\n4\n');

  for (const id of ['ov1', 'ov2']) assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  assert.equal(treeHash(rootfs), before, 'the rootfs is byte for byte what it was');
  assert.deepEqual(hostMounts(), host0);
  assert.deepEqual(daemonMounts(), daemon0);
  assert.deepEqual(fs.readdirSync(sb.root).filter((n) => n.startsWith('ov')), [], 'no state dir left (its overlay dir with it)');
  assert.deepEqual(holders(), [], 'the overlay is mounted nowhere: no mount namespace of any process has it');
});

test('--overlay2 all:memory overlays writable bind mounts (directories and files, owner and mode kept); root:memory and read-only binds do not', async () => {
  const vol = path.join(sb.dir, 'vol');
  fs.mkdirSync(vol);
  fs.writeFileSync(path.join(vol, 'a'), 'A\n');
  fs.chownSync(vol, 1000, 1001);
  fs.chmodSync(vol, 0o2777);
  const single = path.join(sb.dir, 'single');
  fs.writeFileSync(single, 'S\n');
  const ro = path.join(sb.dir, 'ro');
  fs.mkdirSync(ro);
  const binds = (s: any) => {
    writable(s);
    s.mounts.push(
      { destination: '/vol', type: 'bind', source: vol, options: ['rbind', 'rw'] },
      { destination: '/etc/single', type: 'bind', source: single, options: ['bind', 'nosuid'] },
      { destination: '/ro', type: 'bind', source: ro, options: ['rbind', 'ro'] },
    );
  };
  const before = { vol: treeHash(vol), single: fs.readFileSync(single, 'utf8'), rootfs: treeHash(rootfs) };
  const script = 'stat -c "%u:%g %a" /vol; echo b > /vol/b && echo more >> /vol/a && echo T >> /etc/single && cat /vol/a /vol/b /etc/single; touch /ro/x 2>&1 | grep -c "Read-only"';
  const all = await sb.run(['--overlay2', 'all:memory', 'run', '-b', await sb.bundle(['sh', '-c', script], binds), 'all1']);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, '1000:1001 2777\nA\nmore\nb\nS\nT\n1\n');
  assert.equal(treeHash(vol), before.vol, 'the volume is unchanged');
  assert.equal(fs.readFileSync(single, 'utf8'), before.single, 'the file bound is unchanged');
  // runsc's --overlay is all:memory.
  const legacy = await sb.run(['--overlay', 'run', '-b', await sb.bundle(['sh', '-c', 'echo c > /vol/c && cat /vol/c'], binds), 'all2']);
  assert.equal(legacy.stdout, 'c\n', legacy.stderr);
  assert.equal(fs.existsSync(path.join(vol, 'c')), false);

  // root:memory: the binds are the host's, as without an overlay (the root still is not).
  const root = await sb.run(['--overlay2', 'root:memory', 'run', '-b', await sb.bundle(['sh', '-c', 'echo d > /vol/d && echo e > /etc/e'], binds), 'root1']);
  assert.equal(root.code, 0, root.stderr);
  assert.equal(fs.readFileSync(path.join(vol, 'd'), 'utf8'), 'd\n', 'a bind under root:memory writes through');
  fs.rmSync(path.join(vol, 'd'));
  assert.equal(treeHash(rootfs), before.rootfs);
  assert.deepEqual(hostMounts(), []);
});

test('a read-only root gets no upper layer (runsc): it stays read-only, and nothing is mounted for it', async () => {
  const r = await sb.run(['--overlay', 'run', '-b', await sb.bundle(['sh', '-c', 'touch /x 2>&1 | grep -c Read-only; grep " / / " /proc/self/mountinfo | grep -c " - overlay "'], (s) => { s.root.readonly = true; }), 'ro1']);
  assert.equal(r.stdout, '1\n0\n', r.stderr);
});

test('in a user namespace: the rootfs and the binds, held from before it, are the lower layers', async () => {
  const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const data = path.join(sb.dir, 'userns-data');
  fs.mkdirSync(data);
  fs.chownSync(data, 100000, 100000);
  fs.writeFileSync(path.join(data, 'old'), 'old\n');
  const before = { rootfs: treeHash(rootfs), data: treeHash(data) };
  const bundle = await sb.bundle(['sh', '-c', 'id -u; echo n > /data/new && cat /data/old /data/new; stat -c %u /data; mkdir /tmp/t 2>&1 | grep -c "Value too large"'], (s) => {
    writable(s);
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = MAP;
    s.linux.gidMappings = MAP;
    s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['rbind'] });
  });
  const r = await sb.run(['--overlay', 'run', '-b', bundle, 'userns1']);
  assert.equal(r.code, 0, r.stderr);
  // The rootfs's /tmp is host root's, which the namespace does not map: overlayfs cannot copy it
  // up for the namespace's root (EOVERFLOW), as with any overlay a user namespace mounts.
  assert.equal(r.stdout, '0\nold\nn\n0\n1\n');
  assert.deepEqual({ rootfs: treeHash(rootfs), data: treeHash(data) }, before);
  assert.deepEqual(hostMounts(), []);
});

test('a shared state root: the overlay\'s tmpfs never shows on the host, not even while the create-time hooks run', async () => {
  const shared = new Sandbox('overlay-shared');
  fs.mkdirSync(shared.root);
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', shared.root]).status, 0);
  assert.equal(spawnSync('mount', ['--make-shared', shared.root]).status, 0);
  try {
    const seen = path.join(shared.dir, 'hook-saw');
    const bundle = await shared.bundle(['true'], (s) => {
      writable(s);
      s.linux.rootfsPropagation = 'rshared';
      s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `grep -c "${shared.root}/" /proc/self/mountinfo > ${seen}; true`] }] };
    });
    const r = await shared.run(['--overlay', 'run', '-b', bundle, 'sh1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(seen, 'utf8'), '0\n', 'nothing mounted below the state root on the host');
  } finally {
    const { leftovers, mounts } = await shared.cleanup();
    assert.deepEqual(leftovers, []);
    assert.equal(mounts.length, 1, mounts.join('\n'));
    assert.match(mounts[0], / tmpfs /, 'only the state root\'s own tmpfs, made here');
  }
});

test('bad values and what cannot be overlaid are refused, with nothing made', async () => {
  const bundle = await sb.bundle(['true'], writable);
  const refused = async (globals: string[], message: RegExp, b = bundle) => {
    const r = await sb.run([...globals, 'create', '-b', b, 'bad']);
    assert.equal(r.code, 1, `${globals.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(fs.existsSync(path.join(sb.root, 'bad')), false, 'no state dir');
  };
  await refused(['--overlay2', 'root'], /invalid value "root" for flag -overlay2: expected format is --overlay2=\{mount\}:\{medium\}, got "root"/);
  await refused(['--overlay2', 'some:memory'], /unexpected mount specifier for --overlay2: "some"/);
  await refused(['--overlay2', 'root:/tmp'], /unexpected medium specifier for --overlay2: "\/tmp"/);
  await refused(['--overlay2', 'root:self'], /--overlay2 root:self: runa keeps an overlay's upper layer in memory only/);
  await refused(['--overlay2', 'all:dir=/tmp'], /runsc's "dir=" medium .* is not supported/);
  await refused(['--overlay', '--overlay2', 'root:memory'], /--overlay is --overlay2 all:memory: not with --overlay2 root:memory/);
  const noMnt = await sb.bundle(['true'], (s) => {
    writable(s);
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount');
    delete s.linux.maskedPaths;
    delete s.linux.readonlyPaths;
  });
  await refused(['--overlay'], /--overlay2 all:memory: the container has no mount namespace/, noMnt);
  const joined = await sb.bundle(['true'], (s) => {
    writable(s);
    s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'mount' ? { type: 'mount', path: '/proc/self/ns/mnt' } : n));
  });
  await refused(['--overlay2', 'root:memory'], /the container joins the mount namespace \/proc\/self\/ns\/mnt: its overlay would outlive the container there/, joined);
  assert.equal((await sb.run(['list', '-q'])).stdout, '');
  // `do` always overlays.
  const none = await sb.run(['--overlay2', 'none', 'do', 'true']);
  assert.match(none.stderr, /"do" always runs over an in-memory overlay: not with --overlay2 none/);
  // Other commands take the global flags (runsc passes them to every command) and need none of them.
  assert.equal((await sb.run(['--overlay', 'list', '-q'])).code, 0);
});

test('rootless (a user with no privileges, its own uid mapped to root): the layers under its own state root', async (t) => {
  if (spawnSync('setpriv', ['--version']).status !== 0) return t.skip('setpriv missing (util-linux)');
  const NOBODY = 65534;
  const dir = path.join(sb.dir, 'rootless');
  const bundle = path.join(dir, 'bundle');
  const xdg = path.join(dir, 'xdg');
  fs.mkdirSync(xdg, { recursive: true });
  await makeRootfs(path.join(bundle, 'rootfs'));
  spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dir]);
  const asNobody = (args: string[], n: number) => runToFiles('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups',
    'env', '-i', 'PATH=/usr/bin:/bin', `XDG_RUNTIME_DIR=${xdg}`, 'HOME=/nonexistent', 'RUNA_DAEMON_IDLE_MS=60000', runaBin, ...args],
  { out: path.join(sb.dir, `rootless-out-${n}`), err: path.join(sb.dir, `rootless-err-${n}`) }, { cwd: bundle });
  try {
    assert.equal((await asNobody(['spec', '--rootless'], 1)).code, 0);
    const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.root.readonly = false;
    config.process.args = ['sh', '-c', 'id -u; echo hi > /etc/rootless && cat /etc/rootless; grep -c " / / .* - overlay " /proc/self/mountinfo'];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
    const before = treeHash(path.join(bundle, 'rootfs'));
    const r = await asNobody(['--overlay', 'run', '-b', bundle, 'rl1'], 2);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0\nhi\n1\n');
    assert.equal(treeHash(path.join(bundle, 'rootfs')), before);
  } finally {
    // The user's daemon: stopped here, as the sandbox's cleanup stops its own.
    let pid = 0;
    try { pid = Number(fs.readFileSync(path.join(xdg, 'runa', 'daemon.pid'), 'utf8')); } catch { /* never started */ }
    if (pid) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 200 && alive(pid); i++) await sleep(10);
    }
  }
  assert.deepEqual(hostMounts(), []);
});

const podmanMissing = process.env.RUNA_E2E_RUNTIME ? 'another runtime is under test' : Podman.missing() ?? busyboxMissing();

test('under podman: --runtime-flag overlay (every runa call gets --overlay) keeps the container\'s writes from the image and the next container', { skip: podmanMissing ?? false }, async () => {
  const p = new Podman();
  try {
    const image = path.join(p.dir, 'busybox.tar');
    writeBusyboxImage(image);
    assert.equal((await p.podman(['load', '-i', image], { timeoutMs: 60_000 })).code, 0);
    const run = (flags: string[], script: string) => p.podman([...flags, 'run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', script]);
    const w = await run(['--runtime-flag', 'overlay'], 'echo x > /etc/x && echo y >> /etc/hosts && cat /etc/x && tail -1 /etc/hosts && grep -c " / / .* - overlay " /proc/self/mountinfo');
    assert.equal(w.code, 0, show(w));
    assert.equal(w.stdout, 'x\ny\n1\n');
    const after = await run([], 'ls /etc/x 2>&1 | grep -c "No such file"');
    assert.equal(after.stdout, '1\n', show(after));
  } finally {
    const left = await p.teardown();
    assert.ok(nothingLeft(left), JSON.stringify(left, null, 1));
  }
});
