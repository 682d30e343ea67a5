// src/cgroups: path rules and layout detection; the real cgroup v1 hierarchies of this host
// (limits read back, a frozen process, a pids limit, an OOM kill, stats, destroy); cgroup v2
// against a temp dir laid out like cgroupfs (exact values written) and the real cgroup2 mount.
import { test, describe, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  Cgroup, detectCgroups, resolvePath, cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2, deviceRuleLines, type CgroupLayout,
} from '../src/cgroups/index.js';
import { statsV1 } from '../src/cgroups/v1-stats.js';
import { eventLine, statsEvent } from '../src/cgroups/stats-json.js';
import { isInteger, parse as losslessParse } from 'lossless-json';

const isRoot = process.getuid?.() === 0;
const host: CgroupLayout | null = (() => {
  try {
    return detectCgroups();
  } catch {
    return null;
  }
})();
const hasV1 = !!host && host.mode !== 'v2' && !!host.v1.memory && !!host.v1.freezer && !!host.v1.pids;
const realV1 = isRoot && hasV1 ? {} : { skip: 'needs root and cgroup v1 memory/freezer/pids hierarchies' };
const UNIFIED = host?.v2 ?? null;
const realV2 = isRoot && UNIFIED && existsSync(path.join(UNIFIED, 'cgroup.procs'))
  ? {} : { skip: 'needs root and a cgroup2 mount' };

const TAG = `runa-test-${crypto.randomBytes(4).toString('hex')}`;
let seq = 0;
const children: ChildProcess[] = [];
const groups: Cgroup[] = [];
const strays: string[] = []; // directories a test made by hand
const tmps: string[] = [];

function uniquePath(): string {
  return `/${TAG}-${++seq}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function start(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((resolve) => c.once('exit', (code, signal) => resolve({ code, signal })));
}

function collect(c: ChildProcess): () => string {
  let out = '';
  c.stdout?.on('data', (d) => { out += d; });
  c.stderr?.on('data', (d) => { out += d; });
  return () => out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const read = (f: string) => readFileSync(f, 'utf8').trim();

/** Every directory this test file created under any hierarchy of the host. */
function leftovers(): string[] {
  if (!host) return [];
  const mounts = new Set([...Object.values(host.v1), ...(host.v2 ? [host.v2] : [])]);
  const out: string[] = [];
  for (const m of mounts) {
    try {
      for (const e of readdirSync(m)) if (e.startsWith(TAG)) out.push(path.join(m, e));
    } catch { /* unmounted */ }
  }
  return out;
}

async function killAll(cg: Cgroup): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const pids = cg.exists() ? cg.pids() : [];
    if (pids.length === 0) return;
    for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    await sleep(10);
  }
}

afterEach(async () => {
  for (const cg of groups.splice(0)) {
    if (cg.exists()) {
      await cg.thaw().catch(() => {});
      await killAll(cg);
    }
  }
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await exited(c);
    }
  }
  // remove what is left (tests that destroy() assert it themselves), deepest first
  for (const d of [...leftovers(), ...strays.splice(0)].sort((a, b) => b.length - a.length)) {
    for (let i = 0; i < 100 && existsSync(d); i++) {
      try { rmdirSync(d); } catch { await sleep(10); }
    }
  }
  assert.deepEqual(leftovers(), [], 'cgroup directories left behind');
  for (const t of tmps.splice(0)) rmSync(t, { recursive: true, force: true });
});

after(() => {
  assert.deepEqual(leftovers(), []);
});

// ---------------------------------------------------------------------------------------------

describe('paths and layout', () => {
  test('resolvePath: OCI rules', () => {
    assert.equal(resolvePath(undefined, 'c1'), '/runa/c1');
    assert.equal(resolvePath('', 'c1'), '/runa/c1');
    assert.equal(resolvePath('/a/b/', 'c1'), '/a/b');
    assert.equal(resolvePath('/a/./b/../c', 'c1'), '/a/c');
    assert.equal(resolvePath('a/b', 'c1'), 'a/b');
    assert.throws(() => resolvePath('/../etc', 'c1'), /linux\.cgroupsPath: "\/\.\.\/etc" escapes the cgroup root/);
    assert.throws(() => resolvePath('a/../../x', 'c1'), /escapes the cgroup of the runtime/);
    assert.throws(() => resolvePath('a/..', 'c1'), /names the runtime's own cgroup/);
  });

  test('detectCgroups: hybrid, pure v2, co-mounted controllers', () => {
    const hybrid = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
    ].join('\n');
    const l = detectCgroups({ mountinfo: hybrid });
    assert.equal(l.mode, 'hybrid');
    assert.deepEqual(l.v1, {
      cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory', 'name=systemd': '/sys/fs/cgroup/systemd',
    });
    assert.equal(l.v2, '/sys/fs/cgroup/unified');
    const v2 = detectCgroups({ mountinfo: '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot' });
    assert.deepEqual({ mode: v2.mode, v1: v2.v1, v2: v2.v2 }, { mode: 'v2', v1: {}, v2: '/sys/fs/cgroup' });
    const v1 = detectCgroups({ mountinfo: '35 31 0:32 /docker/x /sys/fs/cgroup/memory ro - cgroup cgroup ro,memory' });
    assert.equal(v1.mode, 'v1');
    assert.equal(v1.mountRoots!['/sys/fs/cgroup/memory'], '/docker/x');
  });

  test('detectCgroups on this host', { skip: host ? false : 'no cgroups' }, () => {
    assert.ok(host);
    if (host.mode !== 'v2') assert.ok(Object.keys(host.v1).length > 0);
    if (host.mode === 'hybrid') assert.ok(host.v2);
  });

  test('Cgroup.open: relative paths are anchored at the runtime\'s own cgroup per hierarchy', () => {
    const layout: CgroupLayout = {
      mode: 'hybrid', v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids', 'name=systemd': '/sys/fs/cgroup/systemd' }, v2: '/sys/fs/cgroup/unified',
      mountRoots: { '/sys/fs/cgroup/memory': '/', '/sys/fs/cgroup/pids': '/outer', '/sys/fs/cgroup/systemd': '/', '/sys/fs/cgroup/unified': '/' },
    };
    const self = '9:name=systemd:/sys.slice\n8:pids:/outer/me\n4:memory:/process_api/abc\n0::/u\n';
    const cg = Cgroup.open(layout, 'ctr/x', { selfCgroup: self });
    assert.deepEqual(cg.dirs, {
      v1: { memory: '/sys/fs/cgroup/memory/process_api/abc/ctr/x', pids: '/sys/fs/cgroup/pids/me/ctr/x', 'name=systemd': '/sys/fs/cgroup/systemd/sys.slice/ctr/x' },
      v2: '/sys/fs/cgroup/unified/u/ctr/x',
    });
    const abs = Cgroup.open(layout, '/runa/x', { selfCgroup: self });
    assert.equal(abs.dirs.v1.pids, '/sys/fs/cgroup/pids/runa/x');
    assert.throws(() => Cgroup.open(layout, '/a/../../b'), /escapes/);
  });

  test('conversions (runc)', () => {
    assert.deepEqual([0, 2, 3, 512, 1024, 2048, 262144, 1e6].map(cpuSharesToWeight), [0, 1, 2, 59, 100, 174, 10000, 10000]);
    assert.deepEqual([0, 10, 500, 1000].map(blkioWeightToIoWeight), [0, 1, 4950, 10000]);
    assert.equal(memorySwapToV2(0, -1), -1);
    assert.equal(memorySwapToV2(-1, 100), -1);
    assert.equal(memorySwapToV2(300, 100), 200);
    assert.equal(memorySwapToV2(100, 100), 0);
    assert.throws(() => memorySwapToV2(300, 0), /unable to set swap limit without memory limit/);
    assert.throws(() => memorySwapToV2(50, 100), /memory\+swap limit should be >= memory limit/);
    assert.deepEqual(deviceRuleLines({ allow: false, access: 'rwm' }), ['a']);
    assert.deepEqual(deviceRuleLines({ allow: true, type: 'c', major: 1, minor: 3 }), ['c 1:3 rwm']);
    assert.deepEqual(deviceRuleLines({ allow: true, type: 'c', major: 136, minor: null, access: 'rw' }), ['c 136:* rw']);
    assert.deepEqual(deviceRuleLines({ allow: true, type: 'a', major: 1, minor: 3, access: 'r' }), ['c 1:3 r', 'b 1:3 r']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('cgroup v1 (this host)', () => {
  function v1Cgroup(): Cgroup {
    const cg = Cgroup.open(host!, uniquePath());
    groups.push(cg);
    return cg;
  }

  test('create makes the cgroup in every hierarchy; apply writes the limits; destroy removes it all', realV1, async () => {
    const cg = v1Cgroup();
    assert.deepEqual(cg.create(), { created: true });
    const dirs = [...new Set(Object.values(cg.dirs.v1)), ...(cg.dirs.v2 ? [cg.dirs.v2] : [])];
    for (const d of dirs) assert.ok(existsSync(d), `${d} made`);
    const d = cg.dirs.v1;
    // a new cpuset cgroup got its parent's cpus/mems (else joining fails with ENOSPC)
    if (d.cpuset) assert.notEqual(read(path.join(d.cpuset, 'cpuset.cpus')), '');

    const hasMemsw = existsSync(path.join(d.memory, 'memory.memsw.limit_in_bytes'));
    const { warnings } = cg.apply({
      memory: { limit: 32 << 20, reservation: 16 << 20, swappiness: 10, kernel: 1 << 20, ...(hasMemsw ? { swap: 64 << 20 } : {}) },
      pids: { limit: 10 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'rw' }],
    });
    assert.deepEqual(warnings, ['linux.resources.memory.kernel: ignored (kernel memory limits are deprecated; runc ignores them too)']);
    assert.equal(read(path.join(d.memory, 'memory.limit_in_bytes')), String(32 << 20));
    if (hasMemsw) assert.equal(read(path.join(d.memory, 'memory.memsw.limit_in_bytes')), String(64 << 20));
    assert.equal(read(path.join(d.memory, 'memory.soft_limit_in_bytes')), String(16 << 20));
    assert.equal(read(path.join(d.memory, 'memory.swappiness')), '10');
    assert.equal(read(path.join(d.pids, 'pids.max')), '10');
    if (d.cpu) {
      assert.equal(read(path.join(d.cpu, 'cpu.shares')), '512');
      assert.equal(read(path.join(d.cpu, 'cpu.cfs_quota_us')), '50000');
      assert.equal(read(path.join(d.cpu, 'cpu.cfs_period_us')), '100000');
    }
    if (d.cpuset) {
      assert.equal(read(path.join(d.cpuset, 'cpuset.cpus')), '0');
      assert.equal(read(path.join(d.cpuset, 'cpuset.mems')), '0');
    }
    if (d.devices) assert.equal(read(path.join(d.devices, 'devices.list')), 'c 1:3 rwm\nc 1:5 rw');

    // update: lower the memory, raise pids to unlimited, allow everything again
    cg.update({ memory: { limit: 24 << 20, ...(hasMemsw ? { swap: 24 << 20 } : {}) }, pids: { limit: -1 }, devices: [{ allow: true, access: 'rwm' }] });
    assert.equal(read(path.join(d.memory, 'memory.limit_in_bytes')), String(24 << 20));
    assert.equal(read(path.join(d.pids, 'pids.max')), 'max');
    if (d.devices) assert.equal(read(path.join(d.devices, 'devices.list')), 'a *:* rwm');

    if (d.blkio) {
      const bfq = existsSync(path.join(d.blkio, 'blkio.bfq.weight')) ? 'blkio.bfq.weight' : existsSync(path.join(d.blkio, 'blkio.weight')) ? 'blkio.weight' : null;
      if (bfq) {
        cg.apply({ blockIO: { weight: 300 } });
        assert.match(read(path.join(d.blkio, bfq)), /\b300\b/);
      }
    }

    await cg.destroy();
    for (const dir of dirs) assert.ok(!existsSync(dir), `${dir} removed`);
    assert.deepEqual(cg.createdDirs, []);
  });

  test('what the host cannot apply is an error naming the resource and the file', realV1, () => {
    const cg = v1Cgroup();
    cg.create();
    const d = cg.dirs.v1;
    if (!host!.v1.hugetlb) {
      assert.throws(() => cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] }),
        { message: 'linux.resources.hugepageLimits[0]: cannot apply: hugetlb.2MB.limit_in_bytes: the hugetlb cgroup controller is not mounted (no cgroup v1 hierarchy for it in /proc/self/mountinfo)' });
    }
    if (!host!.v1.net_cls) assert.throws(() => cg.apply({ network: { classID: 0x100001 } }), /^CgroupError: linux\.resources\.network\.classID: cannot apply: net_cls\.classid: the net_cls cgroup controller is not mounted/);
    assert.throws(() => cg.apply({ unified: { 'memory.high': '1G' } }), /^CgroupError: linux\.resources\.unified: cannot apply: invalid configuration: cannot use unified on cgroup v1 \(unified \(cgroup v2\) resources need a cgroup v2 host/);
    if (d.blkio && !existsSync(path.join(d.blkio, 'blkio.leaf_weight'))) {
      assert.throws(() => cg.apply({ blockIO: { leafWeight: 100 } }),
        { message: `linux.resources.blockIO.leafWeight: cannot apply: ${d.blkio}/blkio.leaf_weight does not exist (only the CFQ scheduler (removed in Linux 5.0) has leaf weights)` });
    }
    if (!existsSync(path.join(d.memory, 'memory.memsw.limit_in_bytes'))) {
      assert.throws(() => cg.apply({ memory: { limit: 1 << 24, swap: 1 << 25 } }),
        { message: `linux.resources.memory.swap: cannot apply: ${d.memory}/memory.memsw.limit_in_bytes does not exist (swap accounting disabled?)` });
    }
    assert.throws(() => cg.apply({ memory: { swappiness: 101 } }), /linux\.resources\.memory\.swappiness: cannot apply: invalid memory swappiness value: 101/);
    assert.throws(() => cg.apply({ cpu: { cpus: '99999' } }), new RegExp(`^CgroupError: linux\\.resources\\.cpu\\.cpus: cannot apply: writing "99999" to ${d.cpuset}/cpuset\\.cpus: E`));
  });

  test('join, freeze (no progress), thaw', realV1, async () => {
    const cg = v1Cgroup();
    cg.create();
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'runa-cg-'));
    tmps.push(tmp);
    const out = path.join(tmp, 'ticks');
    // a process that makes visible progress: appends a line every 10ms
    const c = start('sh', ['-c', `read go; while :; do echo x >> ${out}; sleep 0.01; done`]);
    cg.join(c.pid!);
    const joined = read(`/proc/${c.pid}/cgroup`).split('\n').filter((l) => l.endsWith(`:${cg.path}`));
    assert.equal(joined.length, new Set(Object.values(host!.v1)).size + (host!.mode === 'hybrid' ? 1 : 0), joined.join('\n'));
    c.stdin!.write('go\n');
    for (let i = 0; i < 100 && !existsSync(out); i++) await sleep(10);
    assert.ok(existsSync(out));
    assert.ok(cg.pids().includes(c.pid!));

    await cg.freeze();
    assert.equal(cg.freezerState(), 'FROZEN');
    assert.equal(read(path.join(cg.dirs.v1.freezer, 'freezer.state')), 'FROZEN');
    const state = /^State:\s+(\S)/m.exec(read(`/proc/${c.pid}/status`))?.[1];
    assert.ok(state && state !== 'R', `a frozen process is not running (State: ${state})`);
    const size = readFileSync(out).length;
    await sleep(150);
    assert.equal(readFileSync(out).length, size, 'no progress while frozen');

    await cg.thaw();
    assert.equal(cg.freezerState(), 'THAWED');
    for (let i = 0; i < 100 && readFileSync(out).length === size; i++) await sleep(10);
    assert.ok(readFileSync(out).length > size, 'progress after thaw');

    c.kill('SIGKILL');
    await exited(c);
    await killAll(cg);
    await cg.destroy();
    assert.ok(!cg.exists());
  });

  test('pids.limit stops a fork loop', realV1, async () => {
    const cg = v1Cgroup();
    cg.create();
    cg.apply({ pids: { limit: 5 } });
    const c = start('sh', ['-c', 'read go; for i in $(seq 20); do sleep 5 & done; wait']);
    const output = collect(c);
    cg.join(c.pid!);
    c.stdin!.write('go\n');
    const { code } = await exited(c);
    assert.notEqual(code, 0, 'the shell fails to fork');
    assert.match(output(), /fork/i);
    const left = cg.pids();
    assert.ok(left.length >= 1 && left.length <= 4, `at most limit-1 sleeps were started: ${left.length}`);
    const failures = Number(/^max (\d+)/m.exec(readFileSync(path.join(cg.dirs.v1.pids, 'pids.events'), 'utf8'))?.[1] ?? 'NaN');
    if (!Number.isNaN(failures)) assert.ok(failures >= 1, `pids.events counts the refused forks: ${failures}`);
    const st = cg.stats();
    assert.equal(st.pids.limit, 5n);
    assert.equal(st.pids.current, BigInt(left.length));
    await killAll(cg);
    await cg.destroy();
    assert.ok(!cg.exists());
  });

  test('a memory limit OOM-kills a process that allocates too much; oomCount and stats see it', realV1, async () => {
    const cg = v1Cgroup();
    cg.create();
    const hasMemsw = existsSync(path.join(cg.dirs.v1.memory, 'memory.memsw.limit_in_bytes'));
    cg.apply({ memory: { limit: 16 << 20, ...(hasMemsw ? { swap: 16 << 20 } : {}) } });
    assert.equal(cg.oomCount(), 0);
    const c = start('sh', ['-c', 'read go; x=$(head -c 64M /dev/zero | tr "\\0" a); echo survived ${#x}']);
    const output = collect(c);
    cg.join(c.pid!);
    c.stdin!.write('go\n');
    const res = await exited(c);
    assert.doesNotMatch(output(), /survived 67108864/);
    assert.notEqual(res.code, 0, `killed: ${JSON.stringify(res)}`);
    assert.ok(cg.oomCount() >= 1, `oom_kill ${cg.oomCount()}`);
    const st = cg.stats();
    assert.equal(st.memory.usage.limit, BigInt(16 << 20));
    assert.ok(st.memory.usage.max > 0 && st.memory.usage.max <= 16 << 20, `peak ${st.memory.usage.max}`);
    assert.ok(st.memory.usage.max >= 8 << 20, 'the peak came near the limit'); // (failcnt stays 0 on recent kernels)
    assert.equal(typeof st.memory.raw.cache, 'bigint');
    await killAll(cg);
    await cg.destroy();
  });

  test('stats: numbers in runc\'s events --stats shape', realV1, async () => {
    const cg = v1Cgroup();
    cg.create();
    cg.apply({ cpu: { quota: 20000, period: 100000 } });
    const c = start('sh', ['-c', 'read go; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']);
    cg.join(c.pid!);
    c.stdin!.write('go\n');
    await exited(c);
    const st = cg.stats();
    // runc's uint64 counters are exact bigints in 0..2^64−1; cpu/node/device numbers small integers
    const numbers = (o: unknown): boolean => typeof o === 'bigint' ? o >= 0n && o <= 2n ** 64n - 1n
      : typeof o === 'number' ? Number.isSafeInteger(o) : Array.isArray(o) ? o.every(numbers)
        : typeof o === 'object' && o !== null ? Object.values(o).every((v) => typeof v === 'string' || numbers(v)) : false;
    assert.ok(numbers(st), JSON.stringify(st, (_k, v) => typeof v === 'bigint' ? `${v}n` : v));
    assert.equal(typeof st.cpu.usage.total, 'bigint');
    assert.equal(st.pids.limit, 0n, 'no pids limit: runc reports 0, not "max"');
    if (host!.v1.memory) assert.equal(st.memory.usage.limit, BigInt(read(path.join(cg.dirs.v1.memory!, 'memory.limit_in_bytes'))), 'the kernel\'s unlimited value, exactly');
    assert.deepEqual(Object.keys(st).sort(), ['blkio', 'cpu', 'cpuset', 'hugetlb', 'memory', 'pids']);
    if (host!.v1.cpuacct) {
      assert.ok(st.cpu.usage.total > 0, 'cpu used');
      assert.ok(st.cpu.usage.percpu.length >= 1);
      assert.ok(st.cpu.usage.user + st.cpu.usage.kernel > 0);
    }
    if (host!.v1.cpu) assert.ok(st.cpu.throttling.periods > 0, 'quota periods counted');
    if (host!.v1.memory) assert.ok(st.memory.usage.max > 0);
    if (host!.v1.cpuset) assert.ok(st.cpuset.cpus.length >= 1);
    await cg.destroy();
  });

  test('a pre-existing cgroup is joined and left in place', realV1, async () => {
    const p = uniquePath();
    const mounts = [...new Set(Object.values(host!.v1)), ...(host!.mode === 'hybrid' && host!.v2 ? [host!.v2] : [])];
    for (const m of mounts) {
      mkdirSync(path.join(m, p));
      strays.push(path.join(m, p));
    }
    const cg = Cgroup.open(host!, p);
    groups.push(cg);
    assert.deepEqual(cg.create(), { created: false });
    assert.equal(cg.owned, false);
    const c = start('sleep', ['30']);
    cg.join(c.pid!); // works although the cpuset dir was made empty by hand: create() filled cpus/mems
    assert.deepEqual(cg.pids(), [c.pid]);
    c.kill('SIGKILL');
    await exited(c);
    await cg.destroy();
    for (const m of mounts) assert.ok(existsSync(path.join(m, p)), `${m}${p} left in place`);
  });

  test('destroy waits for the cgroup to empty, and reports one that does not', realV1, async () => {
    const cg = v1Cgroup();
    cg.create();
    const c = start('sleep', ['30']);
    cg.join(c.pid!);
    const err = await cg.destroy().then(() => null, (e: Error) => e);
    assert.ok(err, 'a populated cgroup cannot be removed');
    assert.match(err.message, new RegExp(`^cgroups: cannot remove .*${cg.path}: EBUSY \\(.*\\) \\(still has processes ${c.pid}\\)`));
    assert.ok(cg.exists());
    c.kill('SIGKILL'); // destroy right away: the kernel empties the cgroup a little later
    await cg.destroy();
    assert.ok(!cg.exists());
    assert.deepEqual(cg.createdDirs, []);
  });

  test('nested path: parents runa made are removed when empty', realV1, async () => {
    const parent = uniquePath();
    const cg = Cgroup.open(host!, `${parent}/inner`);
    groups.push(cg);
    cg.create();
    const c = start('sleep', ['30']);
    cg.join(c.pid!);
    assert.ok(existsSync(path.join(host!.v1.memory, parent, 'inner')));
    c.kill('SIGKILL');
    await exited(c);
    await cg.destroy();
    assert.ok(!existsSync(path.join(host!.v1.memory, parent)));
  });
});

// ---------------------------------------------------------------------------------------------

describe('cgroup v2 (temp dir laid out like cgroupfs)', () => {
  const V2: CgroupLayout = { mode: 'v2', v1: {}, v2: '/sys/fs/cgroup' };
  const LEAF_FILES = [
    'cgroup.procs', 'cgroup.freeze', 'cpu.weight', 'cpu.max', 'cpu.max.burst', 'cpu.idle', 'cpu.stat', 'cpuset.cpus', 'cpuset.mems',
    'memory.max', 'memory.low', 'memory.high', 'memory.swap.max', 'memory.current', 'memory.events', 'memory.stat',
    'pids.max', 'pids.current', 'io.weight', 'io.max', 'io.stat', 'hugetlb.2MB.max',
  ];

  function fake(opts: { controllers?: string; leafFiles?: string[] } = {}) {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'runa-cgv2-'));
    tmps.push(tmp);
    const mount = path.join(tmp, 'sys/fs/cgroup');
    mkdirSync(mount, { recursive: true });
    const controllers = opts.controllers ?? 'cpuset cpu io memory hugetlb pids';
    writeFileSync(path.join(mount, 'cgroup.controllers'), controllers + '\n');
    writeFileSync(path.join(mount, 'cgroup.subtree_control'), '');
    const cg = Cgroup.open(V2, '/runa/c1', { root: tmp });
    assert.equal(cg.dirs.v2, path.join(mount, 'runa/c1'));
    assert.deepEqual(cg.create(), { created: true });
    const leaf = cg.dirs.v2!;
    // what the kernel would show in the new directories
    for (const d of [path.join(mount, 'runa'), leaf]) {
      writeFileSync(path.join(d, 'cgroup.controllers'), '');
      writeFileSync(path.join(d, 'cgroup.subtree_control'), '');
    }
    for (const f of opts.leafFiles ?? LEAF_FILES) writeFileSync(path.join(leaf, f), '');
    writeFileSync(path.join(leaf, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    const file = (f: string) => readFileSync(path.join(leaf, f), 'utf8');
    const setAvail = (d: string, s: string) => writeFileSync(path.join(d === '' ? mount : path.join(mount, d), 'cgroup.controllers'), s);
    return { tmp, mount, leaf, cg, file, setAvail };
  }

  test('cpu: shares → cpu.weight (runc ≥ 1.3.2 formula), cpu.max "quota period"', () => {
    const { cg, file } = fake();
    cg.apply({ cpu: { shares: 1024, quota: 50000, period: 100000 } });
    assert.equal(file('cpu.weight'), '100');
    assert.equal(file('cpu.max'), '50000 100000');
    cg.apply({ cpu: { shares: 512 } });
    assert.equal(file('cpu.weight'), '59');
    cg.apply({ cpu: { shares: 2, quota: -1 } });
    assert.equal(file('cpu.weight'), '1');
    assert.equal(file('cpu.max'), 'max');
    writeFileSync(path.join(cg.dirs.v2!, 'cpu.max'), '20000 100000\n');
    cg.apply({ cpu: { period: 50000 } }); // only the period: the quota stays
    assert.equal(file('cpu.max'), '20000 50000');
    cg.apply({ cpu: { burst: 1000, idle: 1, cpus: '0-1', mems: '0' } });
    assert.equal(file('cpu.max.burst'), '1000');
    assert.equal(file('cpu.idle'), '1');
    assert.equal(file('cpuset.cpus'), '0-1');
    assert.equal(file('cpuset.mems'), '0');
    assert.throws(() => cg.apply({ cpu: { realtimeRuntime: 950000 } }),
      { message: 'linux.resources.cpu.realtimeRuntime: cannot apply: cpu.rt_runtime_us is cgroup v1\'s: cgroup v2 has no realtime group scheduling' });
  });

  test('controllers are enabled in the parents\' cgroup.subtree_control', () => {
    const { cg, mount, setAvail } = fake();
    setAvail('runa', 'cpuset cpu io memory hugetlb pids\n');
    cg.apply({ memory: { limit: 1 << 30 }, pids: { limit: 10 } });
    assert.equal(readFileSync(path.join(mount, 'cgroup.subtree_control'), 'utf8'), '+memory +pids');
    assert.equal(readFileSync(path.join(mount, 'runa/cgroup.subtree_control'), 'utf8'), '+memory +pids');
    assert.equal(readFileSync(path.join(mount, 'runa/c1/cgroup.subtree_control'), 'utf8'), '', 'not in the leaf itself');
  });

  test('memory: memory.max, memory.swap.max = swap - memory, memory.low; ignored v1-only settings warn', () => {
    const { cg, file } = fake();
    const r = cg.apply({ memory: { limit: 64 << 20, swap: 96 << 20, reservation: 32 << 20, swappiness: 60, disableOOMKiller: true, kernel: 1 } });
    assert.equal(file('memory.max'), String(64 << 20));
    assert.equal(file('memory.swap.max'), String(32 << 20));
    assert.equal(file('memory.low'), String(32 << 20));
    assert.equal(r.warnings.length, 3);
    assert.match(r.warnings.join('\n'), /memory\.swappiness: ignored/);
    cg.apply({ memory: { limit: 64 << 20, swap: 64 << 20 } });
    assert.equal(file('memory.swap.max'), '0', 'swap == memory: no swap');
    cg.apply({ memory: { limit: -1 } });
    assert.equal(file('memory.max'), 'max');
    assert.equal(file('memory.swap.max'), 'max');
    assert.throws(() => cg.apply({ memory: { swap: 1 << 30 } }),
      { message: 'linux.resources.memory.swap: cannot apply: unable to set swap limit without memory limit' });
    writeFileSync(path.join(cg.dirs.v2!, 'memory.current'), String(100 << 20));
    assert.throws(() => cg.update({ memory: { limit: 50 << 20, checkBeforeUpdate: true } }),
      { message: `linux.resources.memory.limit: cannot apply: rejecting memory limit ${50 << 20} <= usage ${100 << 20} (checkBeforeUpdate)` });
  });

  test('memory without swap accounting: "max"/"0" are skipped like runc, a real swap limit is an error', () => {
    const { cg, file } = fake({ leafFiles: ['memory.max', 'memory.low'] });
    cg.apply({ memory: { limit: 64 << 20, swap: 64 << 20 } });
    assert.equal(file('memory.max'), String(64 << 20));
    assert.throws(() => cg.apply({ memory: { limit: 64 << 20, swap: 128 << 20 } }),
      { message: `linux.resources.memory.swap: cannot apply: ${cg.dirs.v2}/memory.swap.max does not exist (swap accounting disabled?)` });
  });

  test('pids.max: "max" for -1, and 0 is a real limit (runtime-spec 1.3); an absent limit changes nothing', () => {
    const { cg, file } = fake();
    cg.apply({ pids: { limit: 100 } });
    assert.equal(file('pids.max'), '100');
    cg.apply({ pids: { limit: -1 } });
    assert.equal(file('pids.max'), 'max');
    cg.apply({ pids: { limit: 0 } });
    assert.equal(file('pids.max'), '0');
    cg.apply({ pids: {} });
    assert.equal(file('pids.max'), '0');
  });

  test('io: io.weight conversion, io.max lines; io.bfq.weight when BFQ is there', () => {
    const { cg, file, leaf } = fake();
    const r = cg.apply({ blockIO: { weight: 500, leafWeight: 300 } });
    assert.equal(file('io.weight'), '4950');
    assert.deepEqual(r.warnings, ['linux.resources.blockIO.leafWeight: ignored (no leaf weights on cgroup v2; runc ignores it too)']);
    const lines: [string, string][] = [
      ['throttleReadBpsDevice', '8:0 rbps=1048576'], ['throttleWriteBpsDevice', '8:0 wbps=2097152'],
      ['throttleReadIOPSDevice', '8:16 riops=100'], ['throttleWriteIOPSDevice', '8:16 wiops=200'],
    ];
    for (const [key, line] of lines) {
      const [dev, kv] = line.split(' ');
      const [major, minor] = dev.split(':').map(Number);
      cg.apply({ blockIO: { [key]: [{ major, minor, rate: Number(kv.split('=')[1]) }] } });
      assert.equal(file('io.max'), line); // one write(2) per line
    }
    writeFileSync(path.join(leaf, 'io.bfq.weight'), '');
    cg.apply({ blockIO: { weight: 500 } });
    assert.equal(readFileSync(path.join(leaf, 'io.bfq.weight'), 'utf8'), '500');
    cg.apply({ blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 700 }] } });
    assert.equal(readFileSync(path.join(leaf, 'io.bfq.weight'), 'utf8'), '8:0 700');
  });

  test('hugetlb, unified, network, devices', () => {
    const { cg, file, leaf, tmp } = fake();
    cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4 << 21 }] });
    assert.equal(file('hugetlb.2MB.max'), String(4 << 21));
    cg.apply({ unified: { 'memory.high': '123456789', 'cgroup.freeze': '0' } });
    assert.equal(file('memory.high'), '123456789');
    assert.throws(() => cg.apply({ unified: { 'misc.max': 'x 1' } }),
      { message: `linux.resources.unified["misc.max"]: unified resource "misc.max" can't be set: controller "misc" not available (not in ${path.resolve(leaf, '../../cgroup.controllers')}: the kernel has no misc controller, or it is disabled)` });
    assert.throws(() => cg.apply({ unified: { '../x': '1' } }), /must be a file name/);
    const r = cg.apply({ network: { classID: 1, priorities: [{ name: 'eth0', priority: 1 }] } });
    assert.equal(r.warnings.length, 2);
    const devices = [{ allow: false, access: 'rwm' }];
    // An eBPF program is loaded for them (test/devices.test.ts); a directory that is no cgroup refuses it, never ignored.
    assert.throws(() => cg.apply({ devices }), new RegExp(`^CgroupError: linux\\.resources\\.devices: cannot apply: query the device programs of ${leaf}: `));
  });

  test('a missing controller names the file and why', () => {
    const { cg, leaf } = fake({ controllers: 'cpu pids', leafFiles: ['cpu.weight', 'pids.max'] });
    // Not even the hierarchy's root has it: refused before anything is written, in runc's words.
    assert.throws(() => cg.apply({ memory: { limit: 1 << 30 } }),
      { message: `linux.resources.memory.limit: cannot apply: controller "memory" not available (not in ${path.resolve(leaf, '../../cgroup.controllers')}: the kernel has no memory controller, or it is disabled)` });
    assert.throws(() => cg.apply({ pids: { limit: 7 }, memory: { limit: 1 << 30 } }), /controller "memory" not available/);
    assert.notEqual(readFileSync(path.join(leaf, 'pids.max'), 'utf8').trim(), '7', 'nothing written before the refusal');
  });

  test('freeze writes cgroup.freeze 1 and waits for cgroup.events "frozen 1"; thaw writes 0', async () => {
    const { cg, file, leaf } = fake();
    const pending = cg.freeze();
    await sleep(30);
    assert.equal(file('cgroup.freeze'), '1');
    assert.equal(cg.freezerState(), 'FREEZING');
    writeFileSync(path.join(leaf, 'cgroup.events'), 'populated 1\nfrozen 1\n'); // the kernel got there
    await pending;
    assert.equal(cg.freezerState(), 'FROZEN');
    await cg.thaw();
    assert.equal(file('cgroup.freeze'), '0');
    assert.equal(cg.freezerState(), 'THAWED');
  });

  test('stats and oomCount from the v2 files', () => {
    const { cg, leaf } = fake();
    const w = (f: string, s: string) => writeFileSync(path.join(leaf, f), s);
    w('cpu.stat', 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 3\nthrottled_usec 42\n');
    w('memory.current', '1048576\n');
    w('memory.max', 'max\n');
    w('memory.peak', '2097152\n');
    w('memory.swap.current', '4096\n');
    w('memory.swap.max', '0\n');
    w('memory.stat', 'anon 100\nfile 200\n');
    w('memory.events', 'low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n');
    w('pids.current', '3\n');
    w('pids.max', '50\n');
    w('io.stat', '8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n');
    const st = cg.stats();
    assert.deepEqual(st.cpu.usage, { total: 1500000n, percpu: [], percpu_kernel: [], percpu_user: [], kernel: 500000n, user: 1000000n });
    assert.deepEqual(st.cpu.throttling, { periods: 7n, throttledPeriods: 3n, throttledTime: 42000n });
    assert.deepEqual(st.memory.usage, { usage: 1048576n, limit: 2n ** 64n - 1n, max: 2097152n, failcnt: 0n });
    assert.deepEqual(st.memory.swap, { usage: 1048576n + 4096n, limit: 2n ** 64n - 1n, max: 0n, failcnt: 0n });
    assert.equal(st.memory.cache, 200n);
    assert.deepEqual(st.pids, { current: 3n, limit: 50n });
    assert.deepEqual(st.blkio.ioServiceBytesRecursive, [{ major: 8, minor: 0, op: 'Read', value: 10n }, { major: 8, minor: 0, op: 'Write', value: 20n }]);
    assert.deepEqual(st.blkio.ioServicedRecursive, [{ major: 8, minor: 0, op: 'Read', value: 1n }, { major: 8, minor: 0, op: 'Write', value: 2n }]);
    assert.equal(cg.oomCount(), 2);
  });

  test('stats are exact uint64s: "max" is 2^64−1, pids "max" a 0 limit, big counters not rounded, sums saturated', () => {
    const { cg, leaf } = fake();
    const w = (f: string, s: string) => writeFileSync(path.join(leaf, f), s);
    w('cpu.stat', 'usage_usec 9007199254740993\nuser_usec 18446744073709551\nsystem_usec 18446744073709552\nnr_periods 18446744073709551615\n');
    w('memory.current', '9223372036854771712\n');
    w('memory.max', 'max\n');
    w('memory.peak', '9007199254740993\n');
    w('memory.swap.current', '0\n');
    w('memory.swap.max', '5\n'); // a swap limit under an unlimited memory.max: Go wraps the v1-style sum, runa saturates
    w('memory.stat', 'anon 18446744073709551615\nfile 9223372036854771712\nshmem -3\n');
    w('pids.current', '1\n');
    w('pids.max', 'max\n');
    w('io.stat', '8:0 rbytes=18446744073709551615 wbytes=9007199254740993 rios=1 wios=2\n');
    const st = cg.stats();
    assert.equal(st.cpu.usage.total, 9007199254740993000n);
    assert.equal(st.cpu.usage.user, 18446744073709551000n, 'µs → ns exactly');
    assert.equal(st.cpu.usage.kernel, 2n ** 64n - 1n, 'µs → ns past 2^64−1 saturates, never wraps');
    assert.equal(st.cpu.throttling.periods, 2n ** 64n - 1n);
    assert.deepEqual(st.memory.usage, { usage: 9223372036854771712n, limit: 18446744073709551615n, max: 9007199254740993n, failcnt: 0n });
    assert.equal(st.memory.swap.limit, 18446744073709551615n);
    assert.deepEqual(st.memory.raw, { anon: 18446744073709551615n, file: 9223372036854771712n, shmem: 0n }, 'negative is 0 (runc ParseUint)');
    assert.equal(st.memory.cache, 9223372036854771712n);
    assert.deepEqual(st.pids, { current: 1n, limit: 0n }, 'runc fs2: pids.max "max" → limit 0');
    assert.deepEqual(st.blkio.ioServiceBytesRecursive.map((e) => e.value), [18446744073709551615n, 9007199254740993n]);

    // printed by the CLI: bare exact numbers
    const text = eventLine(JSON.parse(JSON.stringify(statsEvent('c1', st))));
    assert.match(text, /"memory":\{"cache":9223372036854771712,"usage":\{"limit":18446744073709551615,"usage":9223372036854771712,/);
    assert.match(text, /"raw":\{"anon":18446744073709551615,"file":9223372036854771712,"shmem":0\}/);
    assert.match(text, /"pids":\{"current":1,"limit":0\}/);
    assert.match(text, /"total":9007199254740993000,/);
    assertExactJson(text);
  });

  test('a counter past 2^64−1 is an error naming the file (runc: "unable to parse"), not a rounded or clamped number', () => {
    const { cg, leaf } = fake();
    writeFileSync(path.join(leaf, 'memory.current'), '4096\n');
    writeFileSync(path.join(leaf, 'memory.max'), 'max\n');
    writeFileSync(path.join(leaf, 'memory.stat'), 'anon 18446744073709551616\n');
    assert.throws(() => cg.stats(), (e: Error) => {
      assert.equal(e.name, 'CgroupError');
      assert.match(e.message, /unable to parse .*\/memory\.stat: 18446744073709551616 is out of range/);
      return true;
    });
    writeFileSync(path.join(leaf, 'memory.stat'), 'anon 1\n');
    writeFileSync(path.join(leaf, 'memory.max'), '99999999999999999999\n');
    assert.throws(() => cg.stats(), /unable to parse .*\/memory\.max: 99999999999999999999 is out of range/);
    writeFileSync(path.join(leaf, 'memory.max'), 'max\n');
    writeFileSync(path.join(leaf, 'memory.events'), 'oom_kill 18446744073709551616\n');
    assert.equal(cg.oomCount(), 0, 'the polled OOM count never throws');
    assert.equal(cg.stats().memory.usage.usage, 4096n);
  });
});

/** JSON text with every number an integer in 0..2^64−1, written without fraction or exponent. */
function assertExactJson(text: string): void {
  const numbers: string[] = [];
  losslessParse(text, null, (v: string) => {
    numbers.push(v);
    return v;
  });
  assert.ok(numbers.length > 10, text);
  for (const v of numbers) {
    assert.ok(isInteger(v) && /^(0|[1-9][0-9]*)$/.test(v), `${v}: an unsigned integer, no fraction or exponent`);
    assert.ok(BigInt(v) <= 2n ** 64n - 1n, `${v} <= 2^64-1`);
  }
  // (no cpuset here: its sched_relax_domain_level, runc's one int64, is 0)
  // the raw text too: no number token with a fraction, exponent or sign
  assert.doesNotMatch(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'), /[-+]?\d[.eE]|-\d/);
}

describe('cgroup v1 stats (temp dirs laid out like the v1 hierarchies)', () => {
  test('the kernel\'s numbers exactly: an unlimited limit_in_bytes, 2^64−1 counters, pids "max" → 0, USER_HZ ticks → ns', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'runa-cgv1-'));
    tmps.push(tmp);
    const files: Record<string, Record<string, string>> = {
      cpuacct: {
        'cpuacct.usage': '18446744073709551615', 'cpuacct.usage_percpu': '9007199254740993 18446744073709551615 ',
        'cpuacct.stat': 'user 92233720368\nsystem 184467440737095516\n',
        'cpuacct.usage_all': 'cpu user system\n0 9007199254740993 1\n1 2 18446744073709551615\n',
      },
      cpu: { 'cpu.stat': 'nr_periods 9007199254740993\nnr_throttled 2\nthrottled_time 18446744073709551615\n' },
      memory: {
        'memory.usage_in_bytes': '9007199254740993', 'memory.max_usage_in_bytes': '9007199254740995', 'memory.failcnt': '0',
        'memory.limit_in_bytes': '9223372036854771712', 'memory.memsw.limit_in_bytes': '9223372036854771712',
        'memory.memsw.usage_in_bytes': '9007199254740997', 'memory.stat': 'cache 9223372036854771712\nrss 1\n',
      },
      pids: { 'pids.current': '3', 'pids.max': 'max' },
      blkio: { 'blkio.throttle.io_service_bytes_recursive': '8:0 Read 18446744073709551615\n8:0 Write 9007199254740993\nTotal 18446744073709551615\n' },
    };
    const dirs: Record<string, string> = {};
    for (const [c, fs] of Object.entries(files)) {
      dirs[c] = path.join(tmp, c);
      mkdirSync(dirs[c]);
      for (const [f, t] of Object.entries(fs)) writeFileSync(path.join(dirs[c], f), t + '\n');
    }
    const st = statsV1((c) => dirs[c]);
    assert.equal(st.cpu.usage.total, 18446744073709551615n);
    assert.deepEqual(st.cpu.usage.percpu, [9007199254740993n, 18446744073709551615n]);
    assert.deepEqual(st.cpu.usage.percpu_user, [9007199254740993n, 2n]);
    assert.deepEqual(st.cpu.usage.percpu_kernel, [1n, 18446744073709551615n]);
    assert.equal(st.cpu.usage.user, 922337203680000000n, 'ticks * 1e9 / 100, exactly');
    assert.equal(st.cpu.usage.kernel, 18446744073709551615n, 'past 2^64−1: saturated');
    assert.deepEqual(st.cpu.throttling, { periods: 9007199254740993n, throttledPeriods: 2n, throttledTime: 18446744073709551615n });
    assert.deepEqual(st.memory.usage, { usage: 9007199254740993n, max: 9007199254740995n, failcnt: 0n, limit: 9223372036854771712n });
    assert.equal(st.memory.swap.limit, 9223372036854771712n);
    assert.equal(st.memory.cache, 9223372036854771712n);
    assert.deepEqual(st.pids, { current: 3n, limit: 0n }, 'runc fs/pids.go: "max" → 0');
    assert.deepEqual(st.blkio.ioServiceBytesRecursive, [
      { major: 8, minor: 0, op: 'Read', value: 18446744073709551615n }, { major: 8, minor: 0, op: 'Write', value: 9007199254740993n },
    ]);

    const text = eventLine(JSON.parse(JSON.stringify(statsEvent('v1', st))));
    assert.ok(text.startsWith('{"type":"stats","id":"v1","data":{"cpu":{"usage":{"total":18446744073709551615,"percpu":[9007199254740993,18446744073709551615],'), text);
    assert.match(text, /"usage":\{"limit":9223372036854771712,"usage":9007199254740993,"max":9007199254740995,"failcnt":0\}/);
    assertExactJson(text);
  });

  test('the CLI refuses stats it cannot print exactly (a daemon bug, not a rounded number)', () => {
    const ev = JSON.parse(JSON.stringify(statsEvent('x', statsV1(() => undefined))));
    assert.match(eventLine(ev), /^\{"type":"stats","id":"x","data":\{/);
    ev.data.pids.limit = '18446744073709551616';
    assert.throws(() => eventLine(ev), /stats from the daemon: data\.pids\.limit: above 2\^64-1/);
    ev.data.pids.limit = 1.5;
    assert.throws(() => eventLine(ev), /data\.pids\.limit/);
    assert.equal(eventLine({ type: 'oom', id: 'x' }), '{"type":"oom","id":"x"}');
  });
});

// ---------------------------------------------------------------------------------------------

describe('cgroup v2 (the real cgroup2 mount)', () => {
  test('mkdir, join a process, freeze/thaw via cgroup.freeze + cgroup.events, rmdir', realV2, async () => {
    const layout: CgroupLayout = { mode: 'v2', v1: {}, v2: UNIFIED!, mountRoots: host!.mountRoots };
    const cg = Cgroup.open(layout, uniquePath());
    groups.push(cg);
    const before = read(path.join(UNIFIED!, 'cgroup.subtree_control'));
    assert.deepEqual(cg.create(), { created: true });
    const dir = cg.dirs.v2!;
    assert.ok(existsSync(path.join(dir, 'cgroup.freeze')));
    const c = start('sleep', ['30']);
    cg.join(c.pid!);
    assert.deepEqual(cg.pids(), [c.pid]);
    assert.ok(read(`/proc/${c.pid}/cgroup`).split('\n').includes(`0::${cg.path}`));
    assert.match(read(path.join(dir, 'cgroup.events')), /^populated 1$/m);

    await cg.freeze();
    assert.equal(read(path.join(dir, 'cgroup.freeze')), '1');
    assert.match(read(path.join(dir, 'cgroup.events')), /^frozen 1$/m);
    assert.equal(cg.freezerState(), 'FROZEN');
    await cg.thaw();
    assert.equal(read(path.join(dir, 'cgroup.freeze')), '0');
    for (let i = 0; i < 100 && !/^frozen 0$/m.test(read(path.join(dir, 'cgroup.events'))); i++) await sleep(10);
    assert.match(read(path.join(dir, 'cgroup.events')), /^frozen 0$/m);
    assert.equal(cg.freezerState(), 'THAWED');
    assert.ok(alive(c.pid!));

    const st = cg.stats();
    assert.equal(typeof st.cpu.usage.total, 'bigint');
    c.kill('SIGKILL');
    await exited(c);
    await cg.destroy();
    assert.ok(!existsSync(dir));
    assert.equal(read(path.join(UNIFIED!, 'cgroup.subtree_control')), before, 'no controller enabled on the host');
  });
});
