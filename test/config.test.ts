// config.json's process, rootfs, mounts and namespaces, each observed from inside the container.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox } from './helpers/runa.js';

const sb = new Sandbox('config');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

let n = 0;
/** Run `script` in a container built from the default spec edited by `edit`; returns stdout. */
async function inside(script: string, edit?: (s: any) => void): Promise<string> {
  const bundle = await sb.bundle(['sh', '-c', script], edit);
  const r = await sb.run(['run', '-b', bundle, `cfg${++n}`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function refused(edit: (s: any) => void, message: RegExp) {
  const bundle = await sb.bundle(['true'], edit);
  const id = `bad${++n}`;
  const r = await sb.run(['create', '-b', bundle, id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, message);
  assert.equal(fs.existsSync(path.join(sb.root, id)), false, 'nothing left behind');
}

const status = (out: string, key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(out)?.[1];

test('user: uid, gid, additional gids and umask', async () => {
  const out = await inside('id -u; id -g; id -G; umask', (s) => {
    s.process.user = { uid: 1000, gid: 1001, additionalGids: [2000, 2001], umask: 0o077 };
    s.process.cwd = '/tmp';
  });
  assert.deepEqual(out.trim().split('\n'), ['1000', '1001', '1001 2000 2001', '0077']);
});

test('capabilities: all five sets as asked', async () => {
  const out = await inside('grep Cap /proc/self/status', (s) => {
    s.process.user = { uid: 1000, gid: 1000 };
    s.process.capabilities = {
      bounding: ['CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_CHOWN'],
      effective: ['CAP_NET_BIND_SERVICE'],
      permitted: ['CAP_NET_BIND_SERVICE', 'CAP_KILL'],
      inheritable: ['CAP_NET_BIND_SERVICE'],
      ambient: ['CAP_NET_BIND_SERVICE'],
    };
  });
  // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10
  assert.equal(status(out, 'CapBnd'), '0000000000000421');
  // A non-root process after exec keeps what is ambient: permitted/effective become the ambient set.
  assert.equal(status(out, 'CapAmb'), '0000000000000400');
  assert.equal(status(out, 'CapInh'), '0000000000000400');
  assert.equal(status(out, 'CapEff'), '0000000000000400');
});

test('root keeps exactly the capabilities asked for', async () => {
  const out = await inside('grep Cap /proc/self/status', (s) => {
    s.process.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };
  });
  assert.equal(status(out, 'CapBnd'), '0000000000000020');
  assert.equal(status(out, 'CapEff'), '0000000000000020');
  assert.equal(status(out, 'CapPrm'), '0000000000000020');
});

test('unknown capabilities and rlimit types are refused, naming the field', async () => {
  await refused((s) => { s.process.capabilities.bounding.push('CAP_FLY'); }, /process\.capabilities\.bounding\.3: unknown capability "CAP_FLY"/);
  await refused((s) => { s.process.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]; }, /process\.rlimits\.0\.type: unknown rlimit type/);
  await refused((s) => { s.linux.devices = [{ type: 'x', path: '/dev/x' }]; }, /linux\.devices\.0\.type/);
  await refused((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_FLY' }] }; }, /linux\.seccomp\.syscalls\.0\.action: unknown action "SCMP_ACT_FLY"/);
});

test('a missing field and a NUL byte are refused, naming the field (what the config fuzzer found)', async () => {
  await refused((s) => { delete s.process.user.uid; }, /^config\.json: process\.user\.uid: missing \(expected a number\)$/m);
  await refused((s) => { s.process.args = ['sh', 'a\0b']; }, /^config\.json: process\.args\.1: contains a NUL byte$/m);
  await refused((s) => { s.mounts[0].options = ['nosuid\0']; }, /^config\.json: mounts\.0\.options\.0: contains a NUL byte$/m);
  await refused((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'] }] }; }, /linux\.seccomp\.syscalls\.0\.action: missing \(expected an action\)/);
});

test('a path with a newline in nsinit\'s error comes back whole, on one line', async () => {
  await refused((s) => { s.mounts.push({ destination: '/a\nb', type: 'tmpfs', source: 'tmpfs', options: ['size=bogus'] }); },
    /^mount "tmpfs" on ".*\/a\\nb": Invalid argument$/m);
});

test('rlimits, noNewPrivileges and oomScoreAdj', async () => {
  const out = await inside('grep "open files" /proc/self/limits; grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj', (s) => {
    s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }];
    s.process.noNewPrivileges = true;
    s.process.oomScoreAdj = 500;
  });
  assert.match(out, /Max open files\s+100\s+200\s+files/);
  assert.match(out, /NoNewPrivs:\s+1/);
  assert.match(out, /^500$/m);
});

test('sysctl, masked paths and read-only paths', async () => {
  const out = await inside('cat /proc/sys/net/ipv4/ip_forward; stat -c %t,%T /proc/keys /proc/timer_list; echo 0 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo writable || echo ro', (s) => {
    s.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
  });
  assert.deepEqual(out.trim().split('\n'), ['1', '1,3', '1,3', 'ro']);
});

test('sysctl: slashed keys, kernel.domainname and IPC keys in namespaces of the container\'s own', async () => {
  const out = await inside('cat /proc/sys/net/ipv4/conf/lo/forwarding /proc/sys/kernel/domainname /proc/sys/kernel/shm_rmid_forced', (s) => {
    s.linux.sysctl = { 'net/ipv4/conf/lo/forwarding': '1', 'kernel.domainname': 'runa.test', 'kernel/shm_rmid_forced': '1' };
  });
  assert.deepEqual(out.trim().split('\n'), ['1', 'runa.test', '1']);
});

test('sysctl: keys that would reach the host are refused in runc\'s words, and nothing is written', async () => {
  const hostValue = (f: string) => fs.readFileSync(f, 'utf8');
  const before = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/kernel/panic', '/proc/sys/vm/swappiness', '/proc/sys/kernel/msgmax'].map(hostValue);
  const without = (t: string) => (s: any) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== t); };
  // net.* without a network namespace of its own, or with the host's joined by path.
  await refused((s) => { without('network')(s); s.linux.sysctl = { 'net.ipv4.ip_forward': '1' }; },
    /sysctl "net.ipv4.ip_forward" not allowed in host network namespace/);
  await refused((s) => {
    s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'network' ? { type: 'network', path: '/proc/self/ns/net' } : n));
    s.linux.sysctl = { 'net/ipv4/ip_forward': '1' };
  }, /sysctl "net\/ipv4\/ip_forward" not allowed in host network namespace/);
  await refused((s) => {
    s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'network' ? { type: 'network', path: '/nonexistent/netns' } : n));
    s.linux.sysctl = { 'net.core.somaxconn': '100' };
  }, /invalid netns path: .*nonexistent/);
  // Keys no namespace covers.
  await refused((s) => { s.linux.sysctl = { 'kernel.panic': '1' }; }, /sysctl "kernel.panic" is not in a separate kernel namespace/);
  await refused((s) => { s.linux.sysctl = { 'vm.swappiness': '1' }; }, /sysctl "vm.swappiness" is not in a separate kernel namespace/);
  // IPC keys need an IPC namespace, kernel.domainname a UTS one; kernel.hostname has its own field.
  await refused((s) => { without('ipc')(s); s.linux.sysctl = { 'kernel.msgmax': '1024' }; }, /sysctl "kernel.msgmax" is not allowed in the hosts ipc namespace/);
  await refused((s) => { without('ipc')(s); s.linux.sysctl = { 'fs.mqueue.queues_max': '10' }; }, /sysctl "fs.mqueue.queues_max" is not allowed in the hosts ipc namespace/);
  await refused((s) => { without('uts')(s); delete s.hostname; s.linux.sysctl = { 'kernel.domainname': 'x' }; }, /sysctl "kernel.domainname" is not in a separate kernel namespace/);
  await refused((s) => { s.linux.sysctl = { 'kernel.hostname': 'x' }; }, /sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field/);
  // One bad key among good ones refuses the whole config.
  await refused((s) => { s.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.panic_on_oops': '1' }; }, /kernel.panic_on_oops/);
  assert.deepEqual(['/proc/sys/net/ipv4/ip_forward', '/proc/sys/kernel/panic', '/proc/sys/vm/swappiness', '/proc/sys/kernel/msgmax'].map(hostValue), before);
});

test('hostname needs a UTS namespace', async () => {
  await refused((s) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'uts'); }, /unable to set hostname without a private UTS namespace/);
});

test('mounts: bind (read-only), tmpfs with options, and propagation', async () => {
  const host = path.join(sb.dir, 'shared-data');
  fs.mkdirSync(host);
  fs.writeFileSync(path.join(host, 'file'), 'from host');
  const out = await inside('cat /data/file; echo; touch /data/x 2>/dev/null && echo rw || echo ro; grep -E " /(data|scratch) " /proc/self/mountinfo', (s) => {
    s.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind', 'ro', 'nosuid', 'rprivate'] });
    s.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'mode=700', 'noexec'] });
  });
  const lines = out.trim().split('\n');
  assert.equal(lines[0], 'from host');
  assert.equal(lines[1], 'ro');
  const data = lines.find((l) => l.includes(' /data '))!;
  assert.match(data, / \/data ro,nosuid/);
  const scratch = lines.find((l) => l.includes(' /scratch '))!;
  assert.match(scratch, /noexec/);
  assert.match(scratch, /size=1024k/);
  assert.match(scratch, /mode=700/);
  assert.equal(fs.existsSync(path.join(host, 'x')), false);
});

test('a file bound onto a path the rootfs lacks gets a file there (podman\'s /etc/hosts, /run/.containerenv)', async () => {
  const host = path.join(sb.dir, 'hosts-file');
  fs.writeFileSync(host, '127.0.0.1 runa-test\n');
  const out = await inside('cat /etc/hosts.runa; test -f /run/x/.containerenv && echo file', (s) => {
    s.mounts.push({ destination: '/etc/hosts.runa', type: 'bind', source: host, options: ['rbind', 'ro'] });
    s.mounts.push({ destination: '/run/x/.containerenv', type: 'bind', source: host, options: ['bind'] });
  });
  assert.deepEqual(out.trim().split('\n'), ['127.0.0.1 runa-test', 'file']);
  const rootfs = await sb.rootfs();
  assert.equal(fs.statSync(path.join(rootfs, 'etc/hosts.runa')).isFile(), true);
  fs.rmSync(path.join(rootfs, 'etc/hosts.runa'));
  fs.rmSync(path.join(rootfs, 'run/x'), { recursive: true });
});

test('linux.rootfsPropagation: every value, as the root mount shows it inside (rootfs on a shared host mount)', async () => {
  // A shared mount under the rootfs, as on a systemd host, so that slave has a master to show.
  const rootfs = await sb.rootfs();
  const busybox = fs.existsSync('/bin/busybox');
  if (busybox) fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  assert.equal(spawnSync('mount', ['--bind', rootfs, rootfs]).status, 0);
  try {
    assert.equal(spawnSync('mount', ['--make-shared', rootfs]).status, 0);
    const want: Record<string, RegExp> = {
      shared: /shared:\d+/, rshared: /shared:\d+/, slave: /master:\d+/, rslave: /master:\d+/,
      private: /^(?!.*(shared|master):)/, rprivate: /^(?!.*(shared|master):)/, unbindable: /unbindable/, runbindable: /unbindable/,
    };
    for (const [value, re] of Object.entries(want)) {
      const mount = busybox ? 'mkdir -p /tmp/m && /bin/busybox mount -t tmpfs none /tmp/m && echo mounted' : 'echo mounted';
      const out = await inside(`grep -E '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ' /proc/self/mountinfo; ${mount}`, (s) => {
        s.linux.rootfsPropagation = value;
        s.root.readonly = false;
        s.process.capabilities.bounding.push('CAP_SYS_ADMIN');
        s.process.capabilities.effective.push('CAP_SYS_ADMIN');
        s.process.capabilities.permitted.push('CAP_SYS_ADMIN');
      });
      const [line, mounted] = out.trim().split('\n');
      // mountinfo: the fields after the mount options, up to " - ", are the propagation ones.
      const optional = line.split(' - ')[0].split(' ').slice(6).join(' ');
      assert.match(optional, re, `${value}: ${line}`);
      assert.equal(mounted, 'mounted');
      // Whatever the container mounts never reaches the host (its rootfs bind is private).
      assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(rootfs, 'tmp/m')), false, value);
    }
  } finally {
    spawnSync('umount', ['-l', rootfs]);
    fs.rmSync(path.join(rootfs, 'bin/busybox'), { force: true });
  }
});

test('no mount namespace: the process keeps the host\'s filesystem, as with runc', async () => {
  const noMnt = (s: any) => {
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount');
    delete s.linux.maskedPaths;
    delete s.linux.readonlyPaths;
  };
  const out = await inside('readlink /proc/self/ns/mnt; cat ' + path.join(sb.dir, 'host-only'), (s) => {
    noMnt(s);
    fs.writeFileSync(path.join(sb.dir, 'host-only'), 'seen from the host fs');
  });
  assert.deepEqual(out.trim().split('\n'), [fs.readlinkSync('/proc/self/ns/mnt'), 'seen from the host fs']);
  await refused((s) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount'); },
    /unable to restrict sys entries without a private MNT namespace/);
});

test('tmpfs with tmpcopyup (runc\'s extension, podman --read-only): the tmpfs starts with the directory\'s content', async () => {
  const out = await inside('cat /etc/hostname; readlink /usr/bin; echo new > /etc/added && cat /etc/added; stat -c %a /etc/passwd; grep " /etc " /proc/self/mountinfo | grep -c tmpfs', (s) => {
    s.root.readonly = true;
    s.mounts.push({ destination: '/etc', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'nosuid', 'tmpcopyup', 'mode=755'] });
    s.mounts.push({ destination: '/usr', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] });
  });
  const rootfs = await sb.rootfs();
  assert.deepEqual(out.trim().split('\n'), ['runa', '../bin', 'new', (fs.statSync(path.join(rootfs, 'etc/passwd')).mode & 0o777).toString(8), '1']);
  assert.equal(fs.existsSync(path.join(rootfs, 'etc/added')), false, 'the rootfs is untouched');
});

test('rro makes a bind mount read-only with every mount under it (ro alone leaves submounts writable)', async () => {
  const host = path.join(sb.dir, 'rro-src');
  fs.mkdirSync(path.join(host, 'sub'), { recursive: true });
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'rro-sub', path.join(host, 'sub')]).status, 0);
  try {
    const probe = 'touch /data/x 2>/dev/null && echo top-rw || echo top-ro; touch /data/sub/y 2>/dev/null && echo sub-rw || echo sub-ro';
    const ro = await inside(probe, (s) => { s.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind', 'ro'] }); });
    assert.deepEqual(ro.trim().split('\n'), ['top-ro', 'sub-rw']);
    const rro = await inside(probe, (s) => { s.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind', 'rro', 'rnoexec'] }); });
    assert.deepEqual(rro.trim().split('\n'), ['top-ro', 'sub-ro']);
  } finally {
    spawnSync('umount', ['-l', path.join(host, 'sub')]);
  }
});

test('a cwd the process\'s user cannot enter is entered as root first, as runc does', async () => {
  const rootfs = await sb.rootfs();
  fs.mkdirSync(path.join(rootfs, 'private'), { mode: 0o700 });
  try {
    const out = await inside('pwd; ls . >/dev/null 2>&1 && echo readable || echo not-readable', (s) => {
      s.process.user = { uid: 1000, gid: 1000 };
      s.process.cwd = '/private';
    });
    assert.deepEqual(out.trim().split('\n'), ['/private', 'not-readable']);
  } finally {
    fs.rmSync(path.join(rootfs, 'private'), { recursive: true, force: true });
  }
});

test('a read-only /dev tmpfs: its mounts and nodes are made first, then it is read-only', async () => {
  const out = await inside('touch /dev/x 2>/dev/null && echo dev-rw || echo dev-ro; echo ok > /dev/null && echo null-ok; test -d /dev/pts && echo pts', (s) => {
    const dev = s.mounts.find((m: any) => m.destination === '/dev');
    dev.options = [...dev.options, 'ro'];
  });
  assert.deepEqual(out.trim().split('\n'), ['dev-ro', 'null-ok', 'pts']);
});

test('a symlink in the rootfs can never make a mount land outside it', async () => {
  const victim = path.join(sb.dir, 'victim');
  fs.mkdirSync(victim);
  const rootfs = await sb.rootfs();
  fs.symlinkSync(victim, path.join(rootfs, 'escape'));
  fs.symlinkSync('../../../..' + victim, path.join(rootfs, 'escape-rel'));
  try {
    const out = await inside(`grep -c " ${victim}/owned" /proc/self/mountinfo`, (s) => {
      s.mounts.push({ destination: '/escape/owned', type: 'tmpfs', source: 'tmpfs' });
      s.mounts.push({ destination: '/escape-rel/owned2', type: 'tmpfs', source: 'tmpfs' });
    });
    assert.equal(out.trim(), '2', 'both mounts landed inside the rootfs, where the symlinks resolve as if it were /');
    assert.deepEqual(fs.readdirSync(victim), [], 'nothing was created or mounted in the host directory');
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(victim));
  } finally {
    fs.unlinkSync(path.join(rootfs, 'escape'));
    fs.unlinkSync(path.join(rootfs, 'escape-rel'));
  }
});

test('a rootfs whose /proc is a symlink is refused', async () => {
  const rootfs = path.join(sb.dir, 'evil-rootfs');
  fs.mkdirSync(rootfs);
  fs.symlinkSync('/', path.join(rootfs, 'proc'));
  await refused((s) => { s.root.path = rootfs; }, /proc mount destination \/proc is a symlink in the rootfs: refused \(filesystem "proc" must be mounted on ordinary directory\)/);
});

test('the working directory is created if missing', async () => {
  const out = await inside('pwd', (s) => { s.process.cwd = '/srv/app/work'; s.root.readonly = false; });
  assert.equal(out, '/srv/app/work\n');
});

test('the working directory can never resolve outside the container', async () => {
  // Resolved inside the pivoted root: ".." stops at the container's "/".
  const out = await inside('pwd; readlink /proc/self/cwd; [ -e /proc/1/root/work ] && echo host-visible || echo contained', (s) => {
    s.process.cwd = '/../../../../bin';
  });
  assert.equal(out, '/bin\n/bin\ncontained\n');
});

test('no file descriptor leaks into the container beyond stdio', async () => {
  const out = await inside('ls /proc/self/fd');
  // ls itself opens one directory fd while listing.
  const fds = out.trim().split('\n').map(Number).filter((f) => f > 2);
  assert.ok(fds.length <= 1, `unexpected fds: ${out}`);
});

test('linux.devices creates the device nodes asked for', async () => {
  const out = await inside('stat -c "%F %t %T %a" /dev/fuse /dev/sub/null2', (s) => {
    s.linux.devices = [
      { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600 },
      { type: 'c', path: '/dev/sub/null2', major: 1, minor: 3, fileMode: 0o666 },
    ];
  });
  assert.deepEqual(out.trim().split('\n'), ['character special file a e5 600', 'character special file 1 3 666']);
  // A default device listed again is made once, as the spec says.
  const again = await inside('stat -c "%t %T %a" /dev/null /dev/zero', (s) => {
    s.linux.devices = [{ type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o600 }];
  });
  assert.deepEqual(again.trim().split('\n'), ['1 3 600', '1 5 666']);
  // uid/gid: the node's owner. A path listed twice is made once (the first); /dev/ptmx, as
  // containerd lists it for a privileged container, gives way to the pts/ptmx symlink (runc).
  const owned = await inside('stat -c "%u:%g %t %T" /dev/owned; readlink /dev/ptmx', (s) => {
    s.linux.devices = [
      { type: 'c', path: '/dev/owned', major: 1, minor: 7, fileMode: 0o660, uid: 1000, gid: 2000 },
      { type: 'c', path: '/dev/owned', major: 1, minor: 5, fileMode: 0o600 },
      { type: 'c', path: '/dev/ptmx', major: 5, minor: 2, fileMode: 0o666 },
    ];
  });
  assert.deepEqual(owned.trim().split('\n'), ['1000:2000 1 7', 'pts/ptmx']);
  // An access of "" changes nothing and is accepted (runc).
  await inside('true', (s) => { s.linux.resources.devices.push({ allow: true, type: 'c', major: 1, minor: 7, access: '' }); });
});

test('joining another container\'s network namespace by path; a wrong type fails clearly', async () => {
  const host = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', host, 'netowner'])).code, 0);
  const init = JSON.parse((await sb.run(['state', 'netowner'])).stdout).pid;
  const netns = fs.readlinkSync(`/proc/${init}/ns/net`);
  const out = await inside('readlink /proc/self/ns/net', (s) => {
    s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'network' ? { type: 'network', path: `/proc/${init}/ns/net` } : n));
  });
  assert.equal(out.trim(), netns);
  await refused((s) => {
    s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'network' ? { type: 'network', path: `/proc/${init}/ns/uts` } : n));
  }, /setns ".*\/ns\/uts": not a net namespace/);
  assert.equal((await sb.run(['delete', '-f', 'netowner'])).code, 0);
});

test('sysctl keys: slashes swap with dots when the first separator is a slash (an interface name keeps its dot)', async () => {
  const { dottedSysctl, sysctlFile } = await import('../src/oci/sysctl.js');
  assert.equal(dottedSysctl('net/ipv4/conf/eth0.100/rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
  assert.equal(dottedSysctl('net.ipv4.conf.eth0/100.rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
  assert.equal(dottedSysctl('kernel/shm_rmid_forced'), 'kernel.shm_rmid_forced');
  assert.equal(sysctlFile('net/ipv4/conf/eth0.100/rp_filter'), '/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
  assert.equal(sysctlFile('net.ipv4.conf.eth0/100.rp_filter'), '/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
  assert.equal(sysctlFile('kernel.msgmax'), '/proc/sys/kernel/msgmax');
});

/** busybox (static) in the rootfs, for the applets the host's binaries lack there (ionice, cut). */
async function withBusybox(): Promise<void> {
  const to = path.join(await sb.rootfs(), 'bin', 'busybox');
  if (!fs.existsSync(to)) fs.copyFileSync('/bin/busybox', to);
}

test('process.scheduler, process.ioPriority, linux.personality and domainname are applied (seen from inside)', { skip: fs.existsSync('/bin/busybox') ? false : 'needs busybox-static' }, async () => {
  await withBusybox();
  const out = await inside('busybox cut -d" " -f19,41 /proc/self/stat; busybox ionice -p $$; cat /proc/self/personality; uname -m; cat /proc/sys/kernel/domainname', (s) => {
    s.process.scheduler = { policy: 'SCHED_BATCH', nice: 7 };
    s.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
    s.linux.personality = { domain: 'LINUX32', flags: ['ADDR_NO_RANDOMIZE'] };
    s.domainname = 'runa.example';
  });
  const [stat, ionice, pers, machine, domain] = out.trim().split('\n');
  assert.equal(stat, '7 3', 'nice 7, policy SCHED_BATCH (3)');
  assert.match(ionice, /best.effort.*prio 6/i);
  assert.equal(parseInt(pers, 16), 0x0040008, 'PER_LINUX32 | ADDR_NO_RANDOMIZE');
  if (process.arch === 'x64') assert.equal(machine, 'i686');
  assert.equal(domain, 'runa.example');
  // SCHED_IDLE; an idle class I/O priority (level 0 is what the kernel keeps for it)
  const idle = await inside('busybox cut -d" " -f41 /proc/self/stat; busybox ionice -p $$', (s) => {
    s.process.scheduler = { policy: 'SCHED_IDLE' };
    s.process.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 };
  });
  assert.match(idle, /^5\n[\s\S]*idle/);
});

test('exec: process.execCPUAffinity final (after the cgroup join), and the container\'s personality', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.personality = { domain: 'LINUX32' }; });
  const id = `aff${++n}`;
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    const proc = { ...JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')).process };
    proc.args = ['sh', '-c', 'grep Cpus_allowed_list /proc/self/status; cat /proc/self/personality'];
    proc.execCPUAffinity = { initial: '0', final: '0' };
    const file = path.join(sb.dir, `process-${id}.json`);
    fs.writeFileSync(file, JSON.stringify(proc));
    const r = await sb.run(['exec', '-p', file, id]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Cpus_allowed_list:\s+0\n/);
    assert.equal(parseInt(r.stdout.trim().split('\n')[1], 16), 0x0008);
    proc.execCPUAffinity = { final: '0-4095' };
    fs.writeFileSync(file, JSON.stringify(proc));
    const bad = await sb.run(['exec', '-p', file, id]);
    assert.equal(bad.code, 0, 'CPUs the machine lacks are left out by the kernel, as taskset does');
    proc.execCPUAffinity = { final: '3-1' };
    fs.writeFileSync(file, JSON.stringify(proc));
    const wrong = await sb.run(['exec', '-p', file, id]);
    assert.equal(wrong.code, 255, 'runc: every exec failure but a usage error exits 255');
    assert.match(wrong.stderr, /process\.json: execCPUAffinity\.final: must be a CPU list/);
  } finally {
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  }
});

test('scheduler, ioPriority, personality and domainname: bad values refused with the field, in runc\'s words where runc has some', async () => {
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_FAST' }; }, /process\.scheduler\.policy: unknown scheduling policy "SCHED_FAST"/);
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_OTHER', nice: 20 }; }, /invalid scheduler\.nice: 20/);
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_OTHER', priority: 5 }; }, /scheduler\.priority can only be specified for SchedFIFO or SchedRR policy/);
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_BATCH', runtime: 1000 }; }, /scheduler runtime\/deadline\/period can only be specified for SchedDeadline policy/);
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_FIFO', priority: 100 }; }, /must be 1 to 99 for SCHED_FIFO/);
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_FAST'] }; }, /unknown scheduler flag "SCHED_FLAG_FAST"/);
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_ISO' }; }, /SCHED_ISO is not implemented by Linux/);
  await refused((s) => { s.process.ioPriority = { class: 'IOPRIO_CLASS_FAST', priority: 1 }; }, /unknown I\/O priority class "IOPRIO_CLASS_FAST"/);
  await refused((s) => { s.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }; }, /invalid ioPriority\.Priority: 8/);
  await refused((s) => { s.linux.personality = { domain: 'LINUX64' }; }, /linux\.personality\.domain: unknown personality domain "LINUX64"/);
  await refused((s) => { s.linux.personality = { domain: 'LINUX', flags: ['FAST'] }; }, /unknown personality flag "FAST"/);
  await refused((s) => { s.linux.namespaces = s.linux.namespaces.filter((x: any) => x.type !== 'uts'); delete s.hostname; s.domainname = 'x'; },
    /unable to set domainname without a private UTS namespace/);
  // The kernel's refusal (a deadline task's runtime above its deadline) fails the create and leaves nothing.
  await refused((s) => { s.process.scheduler = { policy: 'SCHED_DEADLINE', runtime: 2000000, deadline: 1000000, period: 3000000 }; }, /sched_setattr policy 6.*Invalid argument/);
});

test('HOME comes from the container\'s /etc/passwd when the environment has none (runc), for the init and exec', async () => {
  const noHome = (s: any) => { s.process.env = s.process.env.filter((e: string) => !e.startsWith('HOME=')); };
  assert.equal((await inside('echo $HOME', (s) => { noHome(s); s.process.user = { uid: 65534, gid: 65534 }; })).trim(), '/nonexistent');
  assert.equal((await inside('echo $HOME', (s) => { noHome(s); s.process.user = { uid: 1234, gid: 1234 }; })).trim(), '/', 'a user not in /etc/passwd');
  assert.equal((await inside('echo $HOME', (s) => { noHome(s); })).trim(), '/root');
  assert.equal((await inside('echo $HOME', (s) => { s.process.env.push('HOME=/mine'); s.process.user = { uid: 65534, gid: 65534 }; })).trim(), '/mine');
  const bundle = await sb.bundle(['sleep', '1000'], noHome);
  const id = `home${++n}`;
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    const r = await sb.run(['exec', '--user', '65534:65534', id, 'sh', '-c', 'echo $HOME']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '/nonexistent');
  } finally {
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  }
});

test('mounts: a relative destination is read from "/" (deprecated, as the spec says); a bind mount with data options is refused (runc)', async () => {
  const host = path.join(sb.dir, 'rel-data');
  fs.mkdirSync(host, { recursive: true });
  fs.writeFileSync(path.join(host, 'f'), 'relative');
  const out = await inside('cat /reldest/f', (s) => { s.mounts.push({ destination: 'reldest', type: 'bind', source: host, options: ['rbind', 'ro'] }); });
  assert.equal(out, 'relative');
  await refused((s) => { s.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind', 'mode=755'] }); },
    /mounts\.\d+: invalid mount on \/data: bind mounts cannot have any filesystem-specific options applied \(mode=755\)/);
  await refused((s) => { s.mounts.push({ destination: '/data', type: 'none', source: host, options: ['bind', 'size=1m'] }); },
    /bind mounts cannot have any filesystem-specific options applied/);
});

test('AppArmor, SELinux labels and Intel RDT: refused where the host lacks them, nothing created', async () => {
  const { hostSecurity } = await import('../src/oci/security.js');
  const host = hostSecurity();
  if (!host.apparmor) {
    await refused((s) => { s.process.apparmorProfile = 'runa-test'; }, /process\.apparmorProfile: apparmor profile "runa-test" is specified in config, but AppArmor is not enabled on this host/);
  }
  if (!host.selinux) {
    await refused((s) => { s.process.selinuxLabel = 'system_u:system_r:container_t:s0'; }, /process\.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported/);
    await refused((s) => { s.linux.mountLabel = 'system_u:object_r:container_file_t:s0'; }, /linux\.mountLabel: selinux mount label is specified in config, but selinux is disabled or not supported/);
  }
  if (!host.resctrl) await refused((s) => { s.linux.intelRdt = { closID: 'guaranteed_group' }; }, /linux\.intelRdt: intelRdt is specified in config, but Intel RDT is not supported or enabled/);
  // Malformed values are refused on any host, before resctrl is looked at.
  await refused((s) => { s.linux.intelRdt = { closID: '../x' }; }, /linux\.intelRdt\.closID: "\.\.\/x" is not a directory name/);
  await refused((s) => { s.linux.intelRdt = { memBwSchema: 'L3:0=f' }; }, /linux\.intelRdt\.memBwSchema: must be one line starting with "MB:"/);
});

test('AppArmor: a profile the host knows is the process\'s after its exec', { skip: fs.existsSync('/sys/kernel/security/apparmor') ? false : 'this host has no AppArmor' }, async () => {
  const out = await inside('cat /proc/self/attr/current', (s) => { s.process.apparmorProfile = 'unconfined'; });
  assert.match(out, /unconfined/);
});

test('a session keyring of the container\'s own (_ses.<id>, as runc names it) for the init and exec; --no-new-keyring keeps the caller\'s', async () => {
  const keys = () => fs.readFileSync('/proc/keys', 'utf8');
  // Inside: /proc/keys (unmasked here) lists the keyring the process possesses.
  const bundle = await sb.bundle(['sh', '-c', 'grep -c "_ses\\.keyed" /proc/keys; sleep 1000'], (s) => {
    s.linux.maskedPaths = s.linux.maskedPaths.filter((p: string) => p !== '/proc/keys');
  });
  const id = 'keyed';
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    assert.match(keys(), /keyring\s+_ses\.keyed: /);
    const r = await sb.run(['exec', id, 'sh', '-c', 'grep -c "_ses\\.keyed" /proc/keys']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1');
  } finally {
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  }
  const plain = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '--no-new-keyring', '-b', plain, 'unkeyed'])).code, 0);
  try {
    assert.doesNotMatch(keys(), /_ses\.unkeyed/);
    const r = await sb.run(['exec', 'unkeyed', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(keys(), /_ses\.unkeyed/, 'exec keeps the caller\'s keyring too');
  } finally {
    assert.equal((await sb.run(['delete', '-f', 'unkeyed'])).code, 0);
  }
});

const hasTimeNs = fs.existsSync('/proc/self/ns/time');
test('a time namespace with linux.timeOffsets: the clocks inside are shifted, for the init and exec', { skip: hasTimeNs ? false : 'this kernel has no time namespaces' }, async () => {
  const bundle = await sb.bundle(['sh', '-c', 'cat /proc/uptime; sleep 1000'], (s) => {
    s.linux.namespaces.push({ type: 'time' });
    s.linux.timeOffsets = { boottime: { secs: 1000000, nanosecs: 0 }, monotonic: { secs: 500000 } };
  });
  const id = `time${++n}`;
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    const hostUptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const r = await sb.run(['exec', id, 'cat', '/proc/uptime']);
    assert.equal(r.code, 0, r.stderr);
    const inside = Number(r.stdout.split(' ')[0]);
    assert.ok(inside - hostUptime() > 999_990 && inside - hostUptime() < 1_000_010, `uptime inside ${inside}, outside ${hostUptime()}`);
    const init = JSON.parse((await sb.run(['state', id])).stdout).pid;
    assert.notEqual(fs.readlinkSync(`/proc/${init}/ns/time`), fs.readlinkSync('/proc/self/ns/time'));
    assert.match(fs.readFileSync(`/proc/${init}/timens_offsets`, 'utf8'), /monotonic\s+500000\s+0\nboottime\s+1000000\s+0/);
  } finally {
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  }
});

test('linux.timeOffsets: refused without a time namespace of its own, or with a bad clock or value', async () => {
  await refused((s) => { s.linux.timeOffsets = { monotonic: { secs: 10 } }; }, /linux\.timeOffsets: time namespace offsets specified, but time namespace isn't enabled in the config/);
  await refused((s) => { s.linux.namespaces.push({ type: 'time' }); s.linux.timeOffsets = { realtime: { secs: 10 } }; }, /linux\.timeOffsets: Unrecognized key: "realtime"/);
  await refused((s) => { s.linux.namespaces.push({ type: 'time' }); s.linux.timeOffsets = { boottime: { secs: 1, nanosecs: 1e9 } }; }, /linux\.timeOffsets\.boottime\.nanosecs/);
  if (hasTimeNs) {
    await refused((s) => { s.linux.namespaces.push({ type: 'time', path: '/proc/self/ns/time' }); s.linux.timeOffsets = { boottime: { secs: 1 } }; },
      /the offsets of a time namespace joined by path \(\/proc\/self\/ns\/time\) cannot be set/);
  }
});

test('linux.memoryPolicy: set_mempolicy for the init and exec (get_mempolicy from inside); bad modes, flags and node lists refused', async () => {
  const probe = path.join(await sb.rootfs(), 'bin', 'sysprobe');
  if (!fs.existsSync(probe)) fs.copyFileSync(path.resolve('native/test/sysprobe'), probe);
  if (!fs.existsSync('/sys/devices/system/node/node0')) return; // no NUMA in this kernel: only the refusals below apply
  const out = await inside('sysprobe --mempolicy', (s) => { s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] }; });
  // get_mempolicy gives the mode with its flags: MPOL_BIND (2) | MPOL_F_STATIC_NODES (1 << 15)
  assert.equal(out.trim(), `${2 | (1 << 15)} 1`);
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0' }; });
  const id = `mpol${++n}`;
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    const r = await sb.run(['exec', id, 'sysprobe', '--mempolicy']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '3 1');
  } finally {
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  }
  // A node the host does not have: the kernel's EINVAL, naming the call.
  await refused((s) => { s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '63' }; }, /set_mempolicy mode 2 nodes "63": Invalid argument/);
});

test('linux.memoryPolicy: malformed values refused with the field', async () => {
  await refused((s) => { s.linux.memoryPolicy = { mode: 'MPOL_FAST' }; }, /linux\.memoryPolicy\.mode: unknown memory policy mode "MPOL_FAST"/);
  await refused((s) => { s.linux.memoryPolicy = { mode: 'MPOL_BIND' }; }, /linux\.memoryPolicy\.nodes: MPOL_BIND needs at least one node/);
  await refused((s) => { s.linux.memoryPolicy = { mode: 'MPOL_LOCAL', nodes: '0' }; }, /linux\.memoryPolicy\.nodes: must be empty for MPOL_LOCAL/);
  await refused((s) => { s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '2-1' }; }, /linux\.memoryPolicy\.nodes: must be a NUMA node list/);
  await refused((s) => { s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_FAST'] }; }, /unknown memory policy flag "MPOL_F_FAST"/);
});

test('SELinux: a label is the process\'s after its exec', { skip: fs.existsSync('/sys/fs/selinux/enforce') ? false : 'this host has no SELinux' }, async () => {
  const current = fs.readFileSync('/proc/self/attr/current', 'utf8').replace(/\0/g, '').trim();
  const out = await inside('cat /proc/self/attr/current', (s) => { s.process.selinuxLabel = current; });
  assert.equal(out.replace(/\0/g, '').trim(), current);
});

test('runc\'s refusals: a root.path that is a symlink; exec --cwd that does not exist is not made', async () => {
  const link = path.join(sb.dir, 'rootfs-link');
  if (!fs.existsSync(link)) fs.symlinkSync(await sb.rootfs(), link);
  await refused((s) => { s.root.path = link; }, /invalid rootfs: not an absolute path, or a symlink/);
  const bundle = await sb.bundle(['sleep', '1000']);
  const id = `cwd${++n}`;
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    const r = await sb.run(['exec', '--cwd', '/missing-dir', id, 'true']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /missing-dir.*No such file or directory/);
    assert.equal(fs.existsSync(path.join(await sb.rootfs(), 'missing-dir')), false, 'nothing was made');
  } finally {
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
  }
});
