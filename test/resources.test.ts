// linux.resources through a real cgroup (v1 here), pause/resume through the freezer,
// events and update.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { parse as losslessParse } from 'lossless-json';
import { Sandbox, alive, monitorOf, until } from './helpers/runa.js';

const sb = new Sandbox('resources');
const prefix = `runa-test-${crypto.randomBytes(3).toString('hex')}`;
const V1 = '/sys/fs/cgroup';
const controllers = ['memory', 'pids', 'cpu', 'freezer', 'devices'];
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
  for (const c of controllers) {
    const dir = path.join(V1, c, prefix);
    if (fs.existsSync(dir)) fs.rmdirSync(dir);
  }
});

const cgPath = (id: string) => `/${prefix}/${id}`;
const file = (controller: string, id: string, name: string) => fs.readFileSync(path.join(V1, controller, prefix, id, name), 'utf8').trim();
const exists = (controller: string, id: string) => fs.existsSync(path.join(V1, controller, prefix, id));
const state = async (id: string) => JSON.parse((await sb.run(['state', id])).stdout);

test('the container, its monitor and exec\'d processes are in its cgroup; limits are applied; delete removes it', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => {
    s.linux.cgroupsPath = cgPath('c1');
    s.linux.resources = { ...s.linux.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 }, cpu: { shares: 512, quota: 50000, period: 100000 } };
  });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'c1'])).code, 0);
  assert.equal(file('memory', 'c1', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  assert.equal(file('pids', 'c1', 'pids.max'), '50');
  assert.equal(file('cpu', 'c1', 'cpu.shares'), '512');
  assert.equal(file('cpu', 'c1', 'cpu.cfs_quota_us'), '50000');
  const init = (await state('c1')).pid;
  const monitor = monitorOf(init);
  const procs = file('memory', 'c1', 'cgroup.procs').split('\n').map(Number);
  assert.ok(procs.includes(monitor) && procs.includes(init), 'monitor and init are in the cgroup');
  const e = await sb.run(['exec', 'c1', 'sh', '-c', 'cat /proc/self/cgroup | grep memory']);
  assert.equal(e.stdout.trim(), '4:memory:/', 'the exec\'d process is in it too, seen through the cgroup namespace');
  assert.equal((await sb.run(['delete', '-f', 'c1'])).code, 0);
  for (const c of controllers) assert.equal(exists(c, 'c1'), false, `${c} cgroup removed`);
});

test('/sys/fs/cgroup shows the container\'s own cgroup with its limits, with or without a cgroup namespace', async () => {
  for (const [id, cgroupns] of [['own1', true], ['own2', false]] as const) {
    const bundle = await sb.bundle(['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'], (s) => {
      s.linux.cgroupsPath = cgPath(id);
      s.linux.resources = { ...s.linux.resources, memory: { limit: 32 * 1024 * 1024 }, pids: { limit: 40 } };
      s.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
      if (!cgroupns) s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'cgroup');
      else if (!s.linux.namespaces.some((n: any) => n.type === 'cgroup')) s.linux.namespaces.push({ type: 'cgroup' });
    });
    const r = await sb.run(['run', '-b', bundle, id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${32 * 1024 * 1024}\n40\n`, `cgroup namespace: ${cgroupns}`);
  }
});

test('exec --cgroup puts the process in an existing sub-cgroup of the container\'s (runc)', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cgPath('ex'); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'ex'])).code, 0);
  const sub = path.join(V1, 'memory', prefix, 'ex', 'sub');
  fs.mkdirSync(sub);
  try {
    const r = await sb.run(['exec', '--cgroup', 'memory:sub', 'ex', 'sh', '-c', 'grep -E ":(memory|pids):" /proc/self/cgroup']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split(':').slice(1).join(':')).sort(), ['memory:/sub', 'pids:/']);
    const missing = await sb.run(['exec', '--cgroup', 'nope', 'ex', 'true']);
    assert.equal(missing.code, 255, 'as runc');
    assert.match(missing.stderr, /exec --cgroup: cgroup .*\/nope does not exist/);
    assert.match((await sb.run(['exec', '--cgroup', 'bogus:sub', 'ex', 'true'])).stderr, /no bogus controller/);
    assert.match((await sb.run(['exec', '--cgroup', '../escape', 'ex', 'true'])).stderr, /exec --cgroup: "\.\.\/escape" is not a sub cgroup path/);
  } finally {
    fs.rmdirSync(sub);
  }
  assert.equal((await sb.run(['delete', '-f', 'ex'])).code, 0);
});

test('without cgroupsPath the cgroup is /runa/<id>', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'dflt'])).code, 0);
  const monitor = (await state('dflt')).pid;
  assert.match(fs.readFileSync(`/proc/${monitor}/cgroup`, 'utf8'), /memory:\/runa\/dflt$/m);
  assert.equal((await sb.run(['delete', '-f', 'dflt'])).code, 0);
  assert.equal(fs.existsSync('/sys/fs/cgroup/memory/runa/dflt'), false);
});

test('a pre-existing cgroup is joined and left in place on delete', async () => {
  for (const c of controllers) fs.mkdirSync(path.join(V1, c, prefix, 'pre'), { recursive: true });
  try {
    const bundle = await sb.bundle(['true'], (s) => { s.linux.cgroupsPath = cgPath('pre'); });
    const r = await sb.run(['run', '-b', bundle, 'pre']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of controllers) assert.ok(exists(c, 'pre'), `${c} left in place`);
  } finally {
    for (const c of controllers) fs.rmdirSync(path.join(V1, c, prefix, 'pre'));
  }
});

test('a pre-existing frozen cgroup is refused; a non-empty one gets runc\'s warning', async () => {
  for (const c of controllers) fs.mkdirSync(path.join(V1, c, prefix, 'pre2'), { recursive: true });
  const { spawn } = await import('node:child_process');
  const squatter = spawn('sleep', ['1000'], { stdio: 'ignore' });
  try {
    await new Promise((r) => squatter.once('spawn', r));
    for (const c of controllers) fs.writeFileSync(path.join(V1, c, prefix, 'pre2', 'cgroup.procs'), String(squatter.pid));
    const bundle = await sb.bundle(['true'], (s) => { s.linux.cgroupsPath = cgPath('pre2'); });
    const warned = await sb.run(['run', '-b', bundle, 'pre2']);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /level=warning msg="container's cgroup is not empty: 1 process\(es\) found \(\/.*pre2\)"/);
    assert.equal(squatter.exitCode, null, 'deleting the container left the other process in the shared cgroup alone');
    assert.equal(squatter.signalCode, null);
    fs.writeFileSync(path.join(V1, 'freezer', prefix, 'pre2', 'freezer.state'), 'FROZEN');
    const frozen = await sb.run(['run', '-d', '-b', bundle, 'pre3'], { timeoutMs: 20_000 });
    assert.equal(frozen.code, 1);
    assert.match(frozen.stderr, /container's cgroup unexpectedly frozen \(\/.*pre2\)/);
    assert.equal(fs.existsSync(path.join(sb.root, 'pre3')), false, 'nothing created');
    fs.writeFileSync(path.join(V1, 'freezer', prefix, 'pre2', 'freezer.state'), 'THAWED');
  } finally {
    fs.writeFileSync(path.join(V1, 'freezer', prefix, 'pre2', 'freezer.state'), 'THAWED');
    if (squatter.exitCode === null && squatter.signalCode === null) {
      const gone = new Promise((r) => squatter.once('exit', r));
      squatter.kill('SIGKILL');
      await gone;
    }
    for (const c of controllers) fs.rmdirSync(path.join(V1, c, prefix, 'pre2'));
  }
});

test('pids.limit stops a fork bomb', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo all-forked'], (s) => {
    s.linux.cgroupsPath = cgPath('forks');
    s.linux.resources = { ...s.linux.resources, pids: { limit: 5 } };
  });
  const r = await sb.run(['run', '-b', bundle, 'forks']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Cannot fork/);
  assert.equal(r.stdout, '', 'the loop never completed');
});

test('a memory limit triggers an OOM kill, reported by events as {"type":"oom"}', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo survived'], (s) => {
    s.linux.cgroupsPath = cgPath('oom');
    s.linux.resources = { ...s.linux.resources, memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } };
  });
  assert.equal((await sb.run(['create', '-b', bundle, 'oom'])).code, 0);
  const events = sb.spawn(['events', '--interval', '100ms', 'oom']);
  const ended = new Promise((r) => events.once('exit', r)); // it ends by itself once the container is deleted
  let out = '';
  events.stdout!.on('data', (d) => (out += d));
  await until(() => out.includes('"type":"stats"'), 'the stream started');
  assert.equal((await sb.run(['start', 'oom'])).code, 0);
  await until(() => out.includes('"type":"oom"'), 'oom event', 20_000);
  const oom = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'oom');
  assert.deepEqual(oom, { type: 'oom', id: 'oom' });
  assert.equal((await sb.run(['delete', '-f', 'oom'])).code, 0);
  await ended;
});

test('events --stats prints one runc-format stats object', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cgPath('st'); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'st'])).code, 0);
  const r = await sb.run(['events', '--stats', 'st']);
  assert.equal(r.code, 0, r.stderr);
  const ev = JSON.parse(r.stdout);
  assert.equal(ev.type, 'stats');
  assert.equal(ev.id, 'st');
  for (const k of ['cpu', 'memory', 'pids', 'blkio']) assert.ok(k in ev.data, k);
  assert.equal(ev.data.pids.current, 1, 'the container\'s one process (its monitor is not in the pids cgroup)');
  assert.ok(ev.data.memory.usage.usage > 0);
  // exact numbers (issues 23, 28): what Go's uint64 decoders of containerd and podman read
  const exact = exactNumbers(r.stdout);
  const data = exact.data as any;
  assert.equal(String(data.memory.usage.limit), file('memory', 'st', 'memory.limit_in_bytes'), 'no memory limit: the kernel\'s value (9223372036854771712 here), exactly');
  if (fs.existsSync(path.join(V1, 'memory', prefix, 'st', 'memory.memsw.limit_in_bytes'))) {
    assert.equal(String(data.memory.swap.limit), file('memory', 'st', 'memory.memsw.limit_in_bytes'));
  }
  const pidsMax = file('pids', 'st', 'pids.max');
  assert.equal(String(data.pids.limit), pidsMax === 'max' ? '0' : pidsMax, 'runc reports pids "max" as a 0 limit');
  assert.equal(String(data.cpu.usage.total), String(BigInt(data.cpu.usage.total)), 'cpu ns printed as an integer');

  // the stream: the same exact numbers in every stats line
  const stream = sb.spawn(['events', '--interval', '100ms', 'st']);
  const ended = new Promise((res) => stream.once('exit', res));
  let out = '';
  let err = '';
  stream.stdout!.on('data', (d) => (out += d));
  stream.stderr!.on('data', (d) => (err += d));
  await until(() => out.split('\n').filter((l) => l.includes('"type":"stats"')).length >= 2, 'two stats events');
  for (const line of out.split('\n').filter(Boolean)) {
    const ev2 = exactNumbers(line) as any;
    assert.equal(ev2.type, 'stats');
    assert.equal(String(ev2.data.memory.usage.limit), file('memory', 'st', 'memory.limit_in_bytes'));
  }
  assert.equal((await sb.run(['delete', '-f', 'st'])).code, 0);
  await ended; // the stream ends by itself with the container
  assert.equal(err, '');
});

/**
 * One JSON object, parsed keeping big integers (lossless-json); every number in it an unsigned
 * integer no larger than 2^64−1, written with no sign, fraction or exponent in the raw text.
 */
function exactNumbers(text: string): Record<string, unknown> {
  const numbers: string[] = [];
  const parsed = losslessParse(text, null, (v: string) => {
    numbers.push(v);
    return v;
  }) as Record<string, unknown>;
  assert.ok(numbers.length > 20, text);
  // the one signed field: cpuset sched_relax_domain_level (runc's int64, -1 = the system default)
  const signed = [...text.matchAll(/"sched_relax_domain_level":(-?\d+)/g)].map((m) => m[1]);
  for (const v of numbers) {
    if (v.startsWith('-') && signed.includes(v)) continue;
    assert.match(v, /^(0|[1-9][0-9]*)$/, `${v}: an unsigned integer, no fraction or exponent`);
    assert.ok(BigInt(v) <= 2n ** 64n - 1n, `${v} is at most 2^64-1`);
  }
  const bare = text.replace(/"sched_relax_domain_level":-1\b/g, '').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  assert.doesNotMatch(bare, /\d[.eE]|-\d/, 'no fraction, exponent or sign anywhere');
  return parsed;
}

test('update changes the limits of a running container', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cgPath('up'); });
  const started = await sb.run(['run', '-d', '-b', bundle, 'up']);
  assert.equal(started.code, 0, started.stderr);
  const u = await sb.run(['update', '--memory', '32m', '--pids-limit', '20', '--cpu-quota', '20000', 'up']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(file('memory', 'up', 'memory.limit_in_bytes'), String(32 * 1024 * 1024));
  assert.equal(file('pids', 'up', 'pids.max'), '20');
  assert.equal(file('cpu', 'up', 'cpu.cfs_quota_us'), '20000');
  assert.equal((await sb.run(['update', '--cpu-share', '300', 'up'])).code, 0, 'runc spells it --cpu-share');
  assert.equal(file('cpu', 'up', 'cpu.shares'), '300');
  // runc 1.2's --cpu-burst and --cpu-idle (skipped where this kernel lacks the knob)
  if (fs.existsSync(path.join(V1, 'cpu', prefix, 'up', 'cpu.cfs_burst_us'))) {
    const b = await sb.run(['update', '--cpu-burst', '5000', 'up']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(file('cpu', 'up', 'cpu.cfs_burst_us'), '5000');
  }
  if (fs.existsSync(path.join(V1, 'cpu', prefix, 'up', 'cpu.idle'))) {
    assert.equal((await sb.run(['update', '--cpu-idle', '1', 'up'])).code, 0);
    assert.equal(file('cpu', 'up', 'cpu.idle'), '1');
    assert.equal((await sb.run(['update', '--cpu-idle', '0', 'up'])).code, 0);
  }
  const idle = await sb.run(['update', '--cpu-idle', '2', 'up']);
  assert.equal(idle.code, 1);
  assert.match(idle.stderr, /invalid value for --cpu-idle: 2 \(0 or 1\)/);
  const r = await sb.run(['update', '--resources', '-', 'up'], { input: JSON.stringify({ pids: { limit: 33 } }) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(file('pids', 'up', 'pids.max'), '33');
  const bad = await sb.run(['update', '--resources', '-', 'up'], { input: JSON.stringify({ pids: { limit: 'lots' } }) });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /resources: pids\.limit/);
  assert.equal(file('pids', 'up', 'pids.max'), '33', 'a refused update changes nothing');
  // Device rules are replaced whole, runc's defaults after them as at create.
  const devices = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 200, access: 'r' }];
  const d = await sb.run(['update', '--resources', '-', 'up'], { input: JSON.stringify({ devices }) });
  assert.equal(d.code, 0, d.stderr);
  const list = file('devices', 'up', 'devices.list').split('\n');
  assert.ok(list.includes('c 10:200 r') && list.includes('c 1:3 rwm') && list.includes('c 136:* rwm'), list.join(', '));
  const hole = await sb.run(['update', '--resources', '-', 'up'], { input: JSON.stringify({ devices: [{ allow: true, type: 'c', access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }] }) });
  assert.equal(hole.code, 1);
  assert.match(hole.stderr, /linux\.resources\.devices\[1\]: requested rule \[c 1:3 w\] cannot be applied: it would punch a hole/);
  assert.deepEqual(file('devices', 'up', 'devices.list').split('\n'), list, 'a refused update changes nothing');
  assert.equal((await sb.run(['delete', '-f', 'up'])).code, 0);
});

test('a resource the host cannot apply fails create clearly and leaves no cgroup', async () => {
  const bundle = await sb.bundle(['true'], (s) => {
    s.linux.cgroupsPath = cgPath('bad');
    s.linux.resources = { ...s.linux.resources, hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] };
  });
  const r = await sb.run(['create', '-b', bundle, 'bad']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /linux\.resources\.hugepageLimits\[0\]: cannot apply/);
  for (const c of controllers) assert.equal(exists(c, 'bad'), false);
  assert.equal(fs.existsSync(path.join(sb.root, 'bad')), false);
});

test('unified (cgroup v2) keys on this cgroup v1 host are refused in runc\'s words before anything is made, at create and at update', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => {
    s.linux.cgroupsPath = cgPath('uni');
    s.linux.resources = { ...s.linux.resources, pids: { limit: 30 }, unified: { 'memory.high': String(32 * 1024 * 1024) } };
  });
  const r = await sb.run(['create', '-b', bundle, 'uni']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /linux\.resources\.unified: cannot apply: invalid configuration: cannot use unified on cgroup v1/);
  for (const c of controllers) assert.equal(exists(c, 'uni'), false, `no ${c} cgroup made`);
  assert.equal(fs.existsSync(path.join(sb.root, 'uni')), false, 'no state dir');
  assert.doesNotMatch((await sb.run(['list', '-q'])).stdout, /^uni$/m);
  // update: refused before its first write (pids.max stays)
  const ok = await sb.bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cgPath('uni2'); s.linux.resources = { ...s.linux.resources, pids: { limit: 30 } }; });
  assert.equal((await sb.run(['run', '-d', '-b', ok, 'uni2'])).code, 0);
  const u = await sb.run(['update', '-r', '-', 'uni2'], { input: JSON.stringify({ pids: { limit: 40 }, unified: { 'memory.high': '1000000' } }) });
  assert.notEqual(u.code, 0);
  assert.match(u.stderr, /cannot use unified on cgroup v1/);
  assert.equal(file('pids', 'uni2', 'pids.max'), '30', 'nothing written');
  assert.equal((await sb.run(['delete', '-f', 'uni2'])).code, 0);
});

test('pause freezes every process, exec is refused while paused, resume delivers queued signals', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.05; done'], (s) => { s.linux.cgroupsPath = cgPath('pz'); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'pz'])).code, 0);
  assert.equal((await sb.run(['exec', '-d', 'pz', 'sleep', '1000'])).code, 0);
  assert.equal((await sb.run(['pause', 'pz'])).code, 0);
  assert.equal((await state('pz')).status, 'paused');
  assert.equal(file('freezer', 'pz', 'freezer.state'), 'FROZEN');
  assert.match((await sb.run(['pause', 'pz'])).stderr, /cannot pause container "pz" in state paused/);
  // runc's words and status (--ignore-paused: see the next test).
  const refused = await sb.run(['exec', 'pz', 'true']);
  assert.equal(refused.code, 255);
  assert.match(refused.stderr, /cannot exec in a paused container \(use --ignore-paused to override\)/);
  assert.equal((await sb.run(['kill', 'pz', 'TERM'])).code, 0, 'a signal to a paused container is queued');
  assert.equal((await state('pz')).status, 'paused');
  const waiter = sb.run(['wait', 'pz']);
  assert.equal((await sb.run(['resume', 'pz'])).code, 0);
  assert.deepEqual(JSON.parse((await waiter).stdout), { id: 'pz', exitStatus: 7 });
  assert.match((await sb.run(['resume', 'pz'])).stderr, /cannot resume container "pz" in state stopped/);
  assert.equal((await sb.run(['delete', 'pz'])).code, 0);
});

test('exec --ignore-paused: the process waits in the frozen cgroup and runs once resumed (runc)', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cgPath('ip'); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'ip'])).code, 0);
  assert.equal((await sb.run(['pause', 'ip'])).code, 0);
  const marker = path.join('/proc', String((await state('ip')).pid), 'root', 'dev', 'shm', 'ignored-paused');
  const late = sb.run(['exec', '--ignore-paused', 'ip', 'sh', '-c', 'echo ran > /dev/shm/ignored-paused']);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(fs.existsSync(marker), false, 'the exec\'d process is frozen with the container');
  assert.equal((await sb.run(['resume', 'ip'])).code, 0);
  const ran = await late;
  assert.equal(ran.code, 0, `it ran once resumed: ${ran.stderr}`);
  assert.equal(fs.readFileSync(marker, 'utf8'), 'ran\n');
  assert.equal((await sb.run(['delete', '-f', 'ip'])).code, 0);
});

test('kill -9 of a paused container still ends it', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cgPath('pk'); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'pk'])).code, 0);
  const monitor = (await state('pk')).pid;
  assert.equal((await sb.run(['pause', 'pk'])).code, 0);
  const waiter = sb.run(['wait', 'pk']);
  assert.equal((await sb.run(['kill', 'pk', 'KILL'])).code, 0);
  assert.equal(JSON.parse((await waiter).stdout).exitStatus, 137);
  await until(() => !alive(monitor), 'monitor gone');
  assert.equal((await sb.run(['delete', 'pk'])).code, 0);
  for (const c of controllers) assert.equal(exists(c, 'pk'), false);
});

test('delete --force of a paused container thaws, kills and removes it', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.cgroupsPath = cgPath('pf'); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'pf'])).code, 0);
  assert.equal((await sb.run(['pause', 'pf'])).code, 0);
  assert.match((await sb.run(['delete', 'pf'])).stderr, /cannot delete container "pf" in state paused/);
  assert.equal((await sb.run(['delete', '--force', 'pf'])).code, 0);
  for (const c of controllers) assert.equal(exists(c, 'pf'), false);
});

test('kill KILL of a container without a pid namespace of its own ends every process in its cgroup (runc ≥ 1.2)', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'sleep 1000 & sleep 1001 & wait'], (s) => {
    s.linux.cgroupsPath = cgPath('nopid');
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'pid');
  });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'nopid'])).code, 0);
  const procs = () => file('pids', 'nopid', 'cgroup.procs').split('\n').filter(Boolean).map(Number);
  const before = (await until(() => (procs().length >= 3 ? procs() : null), 'the init and its two sleeps'))!;
  const waiter = sb.run(['wait', 'nopid']);
  assert.equal((await sb.run(['kill', 'nopid', 'KILL'])).code, 0);
  assert.equal(JSON.parse((await waiter).stdout).exitStatus, 137);
  await until(() => before.every((p) => !alive(p)), 'every process gone, the sleeps included');
  assert.equal((await sb.run(['delete', 'nopid'])).code, 0);
});

test('kernel memory limits are ignored with a warning on stderr, at create and update (runc warns too)', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => {
    s.linux.cgroupsPath = cgPath('kmem');
    s.linux.resources = { ...s.linux.resources, memory: { limit: 64 << 20, kernel: 32 << 20, kernelTCP: 16 << 20 } };
  });
  const r = await sb.run(['run', '-d', '-b', bundle, 'kmem']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /level=warning msg="linux\.resources\.memory\.kernel: ignored/);
  assert.match(r.stderr, /level=warning msg="linux\.resources\.memory\.kernelTCP: ignored/);
  const u = await sb.run(['update', '--resources', '-', 'kmem'], { input: JSON.stringify({ memory: { kernel: 8 << 20 } }) });
  assert.equal(u.code, 0, u.stderr);
  assert.match(u.stderr, /level=warning msg="linux\.resources\.memory\.kernel: ignored/);
  assert.equal((await sb.run(['delete', '-f', 'kmem'])).code, 0);
});

test('pids.limit 0 is a real limit: the container cannot fork (runtime-spec 1.3)', async () => {
  // The container's process starts (it joins its cgroup, it is not forked there); its shell's fork fails.
  const bundle = await sb.bundle(['sh', '-c', 'echo started; /bin/true; echo after'], (s) => {
    s.linux.cgroupsPath = cgPath('pids0');
    s.linux.resources = { ...s.linux.resources, pids: { limit: 0 } };
  });
  const r = await sb.run(['run', '-b', bundle, 'pids0']);
  assert.match(r.stdout, /^started$/m, r.stderr);
  assert.doesNotMatch(r.stdout, /after/);
  assert.match(r.stderr, /fork/i);
  assert.equal(fs.existsSync(path.join(V1, 'pids', prefix, 'pids0')), false, 'run removed it');
});

test('the config\'s memory.checkBeforeUpdate holds for update: a limit below the usage is refused and changes nothing (runc)', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => {
    s.linux.cgroupsPath = cgPath('cbu');
    s.linux.resources = { ...s.linux.resources, memory: { limit: 64 << 20, checkBeforeUpdate: true } };
  });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'cbu'])).code, 0);
  const usage = Number(file('memory', 'cbu', 'memory.usage_in_bytes'));
  assert.ok(usage > 8192, `usage ${usage}`);
  const u = await sb.run(['update', '--memory', '4096', 'cbu']);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /linux\.resources\.memory\.limit: cannot apply: rejecting memory limit 4096 <= usage \d+ \(checkBeforeUpdate\)/);
  assert.equal(file('memory', 'cbu', 'memory.limit_in_bytes'), String(64 << 20), 'a refused update changes nothing');
  const ok = await sb.run(['update', '--memory', String(32 << 20), 'cbu']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(file('memory', 'cbu', 'memory.limit_in_bytes'), String(32 << 20));
  assert.equal((await sb.run(['delete', '-f', 'cbu'])).code, 0);
});
