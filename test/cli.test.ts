// The command line's contract: flags, wording, exit codes, and create failures that
// leave the environment as if the operation were never attempted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Sandbox } from './helpers/runa.js';

const sb = new Sandbox('cli');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

test('--version prints runc\'s three lines: version, commit, spec', async () => {
  const r = await sb.run(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^runa version \d+\.\d+\.\d+\ncommit: ([0-9a-f]{40}|unknown)\nspec: 1\.\d+\.\d+\n$/);
});

test('an unknown command or flag is a usage error', async () => {
  const c = await sb.run(['frobnicate']);
  assert.equal(c.code, 3, 'runc\'s status for an unknown command');
  assert.match(c.stderr, /No help topic for 'frobnicate'/);
  const f = await sb.run(['state', '--bogus', 'x']);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /flag provided but not defined: -bogus/);
  const g = await sb.run(['--log-format', 'xml', 'list']);
  assert.equal(g.code, 1);
  assert.match(g.stderr, /invalid log format "xml"/);
});

test('spec writes runc\'s default config.json and never overwrites it', async () => {
  const dir = path.join(sb.dir, 'specdir');
  fs.mkdirSync(dir);
  const r = await sb.run(['spec', '--bundle', dir]);
  assert.equal(r.code, 0, r.stderr);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.deepEqual(spec.process.args, ['sh']);
  assert.equal(spec.root.path, 'rootfs');
  assert.equal(spec.root.readonly, true);
  assert.ok(spec.linux.namespaces.some((n: any) => n.type === 'pid'));
  fs.writeFileSync(path.join(dir, 'config.json'), 'mine');
  const again = await sb.run(['spec', `--bundle=${dir}`]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /File config.json exists. Remove it first/);
  assert.equal(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), 'mine');
});

test('features describes what runa supports', async () => {
  const r = await sb.run(['features']);
  assert.equal(r.code, 0);
  const f = JSON.parse(r.stdout);
  assert.equal(f.ociVersionMin, '1.0.0');
  assert.ok(f.linux.namespaces.includes('pid'));
  assert.ok(f.mountOptions.includes('rbind'));
  assert.equal(f.ociVersionMax, '1.3.0');
  assert.ok(f.linux.namespaces.includes('time'));
  assert.equal(f.linux.capabilities.length, 41);
  assert.ok(f.linux.capabilities.includes('CAP_CHECKPOINT_RESTORE'));
  assert.equal(f.linux.cgroup.rdma, true);
  assert.equal(f.linux.mountExtensions.idmap.enabled, true);
  assert.equal(f.linux.netDevices.enabled, true);
  assert.ok(f.linux.memoryPolicy.modes.includes('MPOL_BIND'));
  assert.equal(f.linux.apparmor.enabled, fs.existsSync('/sys/kernel/security/apparmor') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y'));
  assert.match(f.annotations['org.opencontainers.runc.checkpoint.enabled'], /^(true|false)$/);
  assert.equal(f.linux.intelRdt.enabled, / - resctrl /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8')));
});

test('with --log-format json a failure ends with one {"level":"error","msg"} line in --log', async () => {
  const log = path.join(sb.dir, 'log.json');
  fs.writeFileSync(log, '{"level":"info","msg":"earlier"}\n');
  const r = await sb.run(['--log', log, '--log-format', 'json', 'state', 'missing']);
  assert.equal(r.code, 1);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2, 'the log is appended to, never truncated');
  const last = JSON.parse(lines[1]);
  assert.equal(last.level, 'error');
  assert.equal(last.msg, 'container does not exist');
});

test('--log is created even when nothing fails (runc opens it on every call)', async () => {
  const log = path.join(sb.dir, 'quiet.log');
  const r = await sb.run(['--log', log, 'list', '-q']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(log, 'utf8'), '');
});

test('--debug: one line per step of create/start/exec/delete with the time taken, in --log (json) or on stderr', async () => {
  const bundle = await sb.bundle(['sleep', '100']);
  const log = path.join(sb.dir, 'debug.json');
  const c = await sb.run(['--debug', '--log', log, '--log-format', 'json', 'create', '-b', bundle, 'dbg']);
  assert.equal(c.code, 0, c.stderr);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.level), ['debug', 'debug', 'debug']);
  assert.match(lines[0].msg, /^create dbg: the daemon validated the bundle/);
  assert.match(lines[1].msg, /^create dbg: nsinit set the container up \(monitor \d+, init \d+\)/);
  assert.ok(lines.every((l) => typeof l.ms === 'number' && typeof l.time === 'string'));
  assert.ok(lines[2].ms >= lines[0].ms);
  const s = await sb.run(['--debug', 'start', 'dbg']);
  assert.match(s.stderr, /level=debug msg="start dbg: the process runs \(hooks done\)" ms=[\d.]+/);
  const e = await sb.run(['--debug', 'exec', 'dbg', 'true']);
  assert.match(e.stderr, /level=debug msg="exec dbg: nsinit joined the container \(process \d+\)"/);
  const d = await sb.run(['--debug', 'delete', '-f', 'dbg']);
  assert.match(d.stderr, /level=debug msg="delete dbg: state, cgroups and mounts removed"/);
  assert.equal((await sb.run(['list', '-q'])).stdout.includes('dbg'), false);
});

test('single-dash and = flag forms are accepted', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'exit 4']);
  const r = await sb.run(['-root', sb.root, 'run', `-bundle=${bundle}`, 'forms']);
  assert.equal(r.code, 4, r.stderr);
});

/** A failed create must leave no state dir, no process and no mount. */
async function assertNothingLeft(id: string) {
  assert.equal(fs.existsSync(path.join(sb.root, id)), false, 'no state dir');
  assert.deepEqual(sb.leftovers().filter((l) => !l.includes(' daemon')), [], 'no monitor process');
  assert.deepEqual(sb.mountsLeft(), [], 'no mount');
  const s = await sb.run(['state', id]);
  assert.match(s.stderr, /container does not exist/);
}

test('create with a malformed config.json fails clearly and leaves nothing', async () => {
  const bundle = await sb.bundle(['true']);
  fs.writeFileSync(path.join(bundle, 'config.json'), '{"ociVersion": "1.2.0", "process": ');
  const r = await sb.run(['create', '-b', bundle, 'bad1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config\.json: invalid JSON/);
  await assertNothingLeft('bad1');
});

test('create with an invalid field names the field', async () => {
  const bundle = await sb.bundle(['true'], (s) => { s.process.args = []; s.process.cwd = 'relative'; });
  const r = await sb.run(['create', '-b', bundle, 'bad2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /process\.args: must name the program to run/);
  assert.match(r.stderr, /process\.cwd: must be an absolute path/);
  await assertNothingLeft('bad2');
});

test('create with a missing rootfs fails and leaves nothing', async () => {
  const bundle = await sb.bundle(['true'], (s) => { s.root.path = '/nonexistent/rootfs'; });
  const r = await sb.run(['create', '-b', bundle, 'bad3']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /rootfs \(\/nonexistent\/rootfs\) does not exist/);
  await assertNothingLeft('bad3');
});

test('create with a missing bundle or config.json fails and leaves nothing', async () => {
  const r = await sb.run(['create', '-b', path.join(sb.dir, 'nowhere'), 'bad4']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bundle .*nowhere does not exist/);
  const empty = path.join(sb.dir, 'empty-bundle');
  fs.mkdirSync(empty);
  const r2 = await sb.run(['create', '-b', empty, 'bad4']);
  assert.match(r2.stderr, /JSON specification file .*config\.json not found/);
  await assertNothingLeft('bad4');
});

test('an id as long as a file name may be (255) works: the state dir is claimed and removed under names of its own', async () => {
  const id = `long-${'x'.repeat(250)}`;
  const bundle = await sb.bundle(['true']);
  const r = await sb.run(['run', '-b', bundle, id]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(sb.root).filter((n) => n.startsWith('long-') || n.startsWith('.~')), [], 'nothing left');
});

test('create with an invalid id fails and leaves nothing', async () => {
  const bundle = await sb.bundle(['true']);
  for (const id of ['..', 'a/b', 'sp ace', '.']) {
    const r = await sb.run(['create', '-b', bundle, id]);
    assert.equal(r.code, 1, id);
    assert.match(r.stderr, /invalid container id/);
  }
  assert.deepEqual(fs.readdirSync(sb.root).filter((n) => !['runa.sock', 'daemon.pid', 'daemon.log', 'daemon.lock', 'daemon.start'].includes(n) && !/^daemon-.*\.cache$/.test(n)), []);
});

test('create with a duplicate id fails and leaves the first container untouched', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['create', '-b', bundle, 'dup'])).code, 0);
  const before = JSON.parse((await sb.run(['state', 'dup'])).stdout);
  const r = await sb.run(['create', '-b', bundle, 'dup']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /container with id "dup" already exists/);
  assert.deepEqual(JSON.parse((await sb.run(['state', 'dup'])).stdout), before);
  const monitors = sb.leftovers().filter((l) => l.includes('nsinit'));
  assert.ok(monitors.length > 0 && monitors.every((l) => l.includes('/dup/plan')), 'only the first container\'s monitor and init');
  assert.equal((await sb.run(['delete', 'dup'])).code, 0);
});

test('a mount setup failure in nsinit fails create with errno and path, and rolls back', async () => {
  const bundle = await sb.bundle(['true'], (s) => { s.mounts.push({ destination: '/data', type: 'bind', source: '/nonexistent-src', options: ['rbind'] }); });
  const r = await sb.run(['create', '-b', bundle, 'bad5']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /mount "\/nonexistent-src" on ".*\/data": No such file or directory/);
  await assertNothingLeft('bad5');
});

test('kill takes the signal by name, SIG-name or number, and refuses unknown ones', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'sig'])).code, 0);
  const bad = await sb.run(['kill', 'sig', 'SIGNOPE']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown signal "SIGNOPE"/);
  for (const s of ['CONT', 'SIGCONT', '18']) assert.equal((await sb.run(['kill', 'sig', s])).code, 0, s);
  assert.equal(JSON.parse((await sb.run(['state', 'sig'])).stdout).status, 'running');
  assert.equal((await sb.run(['delete', '-f', 'sig'])).code, 0);
});

test('list -f json: runc\'s keys in runc\'s order, no annotations key when there are none, null for no container', async () => {
  const empty = new (await import('./helpers/runa.js')).Sandbox('emptylist');
  try {
    const none = await empty.run(['list', '-f', 'json']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, 'null\n');
  } finally { await empty.cleanup(); }
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.annotations = { 'org.example/a': 'b' }; });
  assert.equal((await sb.run(['create', '-b', bundle, 'ljson'])).code, 0);
  try {
    const listed = JSON.parse((await sb.run(['list', '-f', 'json'])).stdout) as any[];
    const mine = listed.find((c) => c.id === 'ljson');
    assert.deepEqual(Object.keys(mine), ['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'annotations', 'owner']);
    assert.deepEqual(mine.annotations, { 'org.example/a': 'b' }, 'the config\'s annotations and nothing else');
    const st = JSON.parse((await sb.run(['state', 'ljson'])).stdout);
    assert.deepEqual(st.annotations, { 'org.example/a': 'b' });
  } finally {
    assert.equal((await sb.run(['delete', '-f', 'ljson'])).code, 0);
  }
});

test('spec -b of a missing directory says so in runc\'s words; --criu naming the criu on PATH is accepted', async () => {
  const r = await sb.run(['spec', '-b', path.join(sb.dir, 'no-such-bundle')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /chdir .*no-such-bundle: no such file or directory/);
  assert.doesNotMatch(r.stderr, /ENOENT|at /);
  const which = spawnSync('sh', ['-c', 'command -v criu'], { encoding: 'utf8' }).stdout.trim();
  if (which) {
    const ok = await sb.run(['--criu', which, 'list']);
    assert.equal(ok.code, 0, ok.stderr);
  }
  assert.match((await sb.run(['--criu', '/opt/other/criu', 'list'])).stderr, /--criu \/opt\/other\/criu: runa runs criu from PATH/);
});
