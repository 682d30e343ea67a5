// runsc's own tools (issue 27): --debug-log with its patterns and formats, --debug-log-fd and
// --log-fd, wait --pid/--rootpid, flags, unique-prefix ids, create --user-log,
// exec --internal-pid-file, debug --pid/--signal and the daemon's profiles.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, runaBin, until, alive, sleep, type Result } from './helpers/runa.js';

const sb = new Sandbox('runsc-tools');
let boxInit = 0;
before(async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  const r = await sb.run(['run', '-d', '-b', bundle, 'box']);
  assert.equal(r.code, 0, r.stderr);
  boxInit = JSON.parse((await sb.run(['state', 'box'])).stdout).pid;
});
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

/** Run runa with more fds than stdio: `fds[i]` becomes fd 3+i in it. */
function runWithFds(args: string[], fds: number[], cwd?: string): Promise<Result> {
  const out = path.join(sb.dir, `fd-out-${Date.now()}`);
  const err = path.join(sb.dir, `fd-err-${Date.now()}`);
  const o = fs.openSync(out, 'w+');
  const e = fs.openSync(err, 'w+');
  const child = spawn(runaBin, ['--root', sb.root, ...args], { cwd, stdio: ['ignore', o, e, ...fds], env: { ...process.env, RUNA_DAEMON_IDLE_MS: '60000' } });
  fs.closeSync(o);
  fs.closeSync(e);
  return new Promise((resolve) => child.on('exit', (code, signal) => {
    const r = { code, signal, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
    fs.rmSync(out);
    fs.rmSync(err);
    resolve(r);
  }));
}

/** The host pid of the process that is `inner` in the pid namespace of `ref`. */
function hostPid(ref: number, inner: number): number | null {
  const ns = fs.readlinkSync(`/proc/${ref}/ns/pid`);
  for (const p of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (fs.readlinkSync(`/proc/${p}/ns/pid`) !== ns) continue;
      const nspid = fs.readFileSync(`/proc/${p}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'))!.trim().split(/\s+/).at(-1);
      if (Number(nspid) === inner) return Number(p);
    } catch { /* gone */ }
  }
  return null;
}

test('--debug-log DIR/: one file per command in runsc\'s naming, with the requests and the daemon\'s lines for that command', async () => {
  const dir = path.join(sb.dir, 'dlogs') + '/';
  const bundle = await sb.bundle(['sleep', '100']);
  assert.equal((await sb.run(['--debug-log', dir, 'create', '-b', bundle, 'dl1'])).code, 0);
  assert.equal((await sb.run(['--debug-log', dir, '--debug', 'start', 'dl1'])).code, 0);
  assert.equal((await sb.run(['--debug-log', dir, 'delete', '-f', 'dl1'])).code, 0);
  const files = fs.readdirSync(dir).sort();
  assert.equal(files.length, 3, files.join(' '));
  for (const f of files) assert.match(f, /^runa\.log\.\d{8}-\d{6}\.\d{6}\.(create|start|delete)\.txt$/);
  const byCmd = (c: string) => fs.readFileSync(path.join(dir, files.find((f) => f.endsWith(`.${c}.txt`))!), 'utf8');
  const start = byCmd('start');
  // runsc's glog layout: level letter, MMDD, time with microseconds, pid, source.
  assert.match(start, /^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ cli\] \*+ runa \*+\n/);
  assert.match(start, /cli\] Args: \[.*"--debug-log",.*"start","dl1"\]/);
  assert.match(start, /cli\] request container\.start dl1: done in [\d.]+ ms/);
  assert.match(start, /^D.* cli\] start dl1: the process runs/m, '--debug steps go in too');
  assert.match(start, /daemon\] container:dl1 container\.start: created → \S+/, 'the daemon\'s transition for this command');
  assert.match(start, /cli\] Exiting with status: 0\n$/);
  assert.doesNotMatch(byCmd('create'), /container\.start/, 'the create\'s log has only what happened during the create');
  assert.match(byCmd('create'), /request container\.create dl1/);
  assert.match(byCmd('delete'), /request container\.delete dl1: done/);
});

test('--debug-log patterns: %ID%, %CID%, %COMMAND%, %TIMESTAMP%; --debug-log-format json; failures are logged', async () => {
  const pattern = path.join(sb.dir, 'pat', '%ID%', '%CID%.%COMMAND%.%TIMESTAMP%.json');
  const r = await sb.run(['--debug-log', pattern, '--debug-log-format', 'json', 'state', 'box']);
  assert.equal(r.code, 0, r.stderr);
  const [file] = fs.readdirSync(path.join(sb.dir, 'pat', 'box'));
  assert.match(file, /^box\.state\.\d{8}-\d{6}\.\d{6}\.json$/);
  const lines = fs.readFileSync(path.join(sb.dir, 'pat', 'box', file), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.every((l) => typeof l.msg === 'string' && ['info', 'debug', 'warning', 'error'].includes(l.level) && !Number.isNaN(Date.parse(l.time))));
  assert.equal(lines.at(-1).msg, 'Exiting with status: 0');
  // A relative pattern is the caller's, also when the daemon runs the command.
  const rel = await runWithFds(['--debug-log', 'rel/', 'state', 'box'], [], sb.dir);
  assert.equal(rel.code, 0, rel.stderr);
  assert.match(fs.readdirSync(path.join(sb.dir, 'rel')).join(), /^runa\.log\.\d{8}-\d{6}\.\d{6}\.state\.txt$/);
  const bad = await sb.run(['--debug-log', path.join(sb.dir, 'pat2', '%CID%.txt'), '--debug-log-format', 'json', 'state', 'nosuch']);
  assert.equal(bad.code, 1);
  const logged = fs.readFileSync(path.join(sb.dir, 'pat2', 'nosuch.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(logged.filter((l) => l.level === 'error').map((l) => l.msg), ['container does not exist']);
  assert.equal(logged.at(-1).msg, 'Exiting with status: 1');
});

test('--debug-log bad input: an unknown %KEY%, a bad format, a format without a log: a clear error, nothing created', async () => {
  const where = path.join(sb.dir, 'never');
  const unknown = await sb.run(['--debug-log', path.join(where, '%FOO%.txt'), 'list']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown variable %FOO% \(known: %TIMESTAMP%, %COMMAND%, %ID%, %CID%, %TEST%\)/);
  const format = await sb.run(['--debug-log', where + '/', '--debug-log-format', 'xml', 'list']);
  assert.equal(format.code, 1);
  assert.match(format.stderr, /invalid debug log format "xml"/);
  const alone = await sb.run(['--debug-log-format', 'json', 'list']);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /--debug-log-format needs --debug-log or --debug-log-fd/);
  const both = await sb.run(['--debug-log', where + '/', '--debug-log-fd', '2', 'list']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /--debug-log and --debug-log-fd cannot both be given/);
  assert.equal(fs.existsSync(where), false);
});

test('--debug-log-fd and --log-fd write to inherited fds; a fd not open is refused', async () => {
  const dfile = path.join(sb.dir, 'fd-debug.txt');
  const lfile = path.join(sb.dir, 'fd-log.txt');
  const d = fs.openSync(dfile, 'a');
  const l = fs.openSync(lfile, 'a');
  try {
    const r = await runWithFds(['--debug-log-fd', '3', '--log-fd', '4', 'state', 'nosuch'], [d, l]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'container does not exist\n');
    assert.match(fs.readFileSync(dfile, 'utf8'), /Args: .*"--debug-log-fd","3"[^]*E.* cli\] container does not exist\n[^]*Exiting with status: 1\n$/);
    assert.match(fs.readFileSync(lfile, 'utf8'), /^time="[^"]+" level=error msg="container does not exist"\n$/);
    const json = await runWithFds(['--log-fd', '3', '--log-format', 'json', 'state', 'nosuch'], [l]);
    assert.equal(json.code, 1);
    const last = JSON.parse(fs.readFileSync(lfile, 'utf8').trim().split('\n').at(-1)!);
    assert.deepEqual([last.level, last.msg], ['error', 'container does not exist']);
  } finally {
    fs.closeSync(d);
    fs.closeSync(l);
  }
  const closed = await sb.run(['--log-fd', '57', 'list']);
  assert.equal(closed.code, 1);
  assert.match(closed.stderr, /--log-fd 57: bad file descriptor/);
  const both = await sb.run(['--log', path.join(sb.dir, 'x.log'), '--log-fd', '2', 'list']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /--log and --log-fd cannot both be given/);
  // runc's contract for --log: every error goes there; nothing else was done.
  assert.match(fs.readFileSync(path.join(sb.dir, 'x.log'), 'utf8'), /^time="[^"]+" level=error msg="--log and --log-fd cannot both be given: --log-fd replaces --log"\n$/);
});

test('wait --pid: an exec -d process by host pid, killed (128+signal) or exited before the wait; its init; bad pids refused', async () => {
  const before = new Set<number>(JSON.parse((await sb.run(['ps', '-f', 'json', 'box'])).stdout));
  assert.equal((await sb.run(['exec', '-d', 'box', 'sleep', '1000'])).code, 0);
  const fresh = (JSON.parse((await sb.run(['ps', '-f', 'json', 'box'])).stdout) as number[]).filter((p) => !before.has(p));
  assert.equal(fresh.length, 1);
  const waiting = sb.run(['wait', '--pid', String(fresh[0]), 'box']);
  await sleep(200);
  assert.equal((await sb.run(['kill', '--pid', String(fresh[0]), 'box', 'KILL'])).code, 0);
  const w = await waiting;
  assert.equal(w.code, 0, w.stderr);
  assert.deepEqual(JSON.parse(w.stdout), { id: 'box', pid: fresh[0], exitStatus: 137 });

  // Exited before anyone waits: the status is kept for one wait.
  const ipf = path.join(sb.dir, 'inner.pid');
  assert.equal((await sb.run(['exec', '-d', '--internal-pid-file', ipf, 'box', 'sh', '-c', 'sleep 0.5; exit 3'])).code, 0);
  const inner = Number(fs.readFileSync(ipf, 'utf8'));
  const host = hostPid(boxInit, inner);
  assert.ok(host && host !== inner, `internal pid ${inner} is the container's, host pid ${host}`);
  await until(() => !alive(host!), 'the exec to exit');
  await sleep(100);
  const late = await sb.run(['wait', '--pid', String(host), 'box']);
  assert.equal(late.code, 0, late.stderr);
  assert.equal(JSON.parse(late.stdout).exitStatus, 3);
  const again = await sb.run(['wait', '--pid', String(host), 'box']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /waiting on PID \d+ in container "box": no such process/);

  for (const [args, re] of [
    [['wait', '--pid', '1', 'box'], /no such process/],
    [['wait', '--pid', 'x', 'box'], /invalid value "x" for flag -pid/],
    [['wait', '--pid', '5', '--rootpid', '5', 'box'], /only one of -pid and -rootPid can be set/],
    [['wait', '--pid', '5', 'nosuch'], /container does not exist/],
  ] as Array<[string[], RegExp]>) {
    const r = await sb.run(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }

  // The init, by its host pid: the container's own status.
  const bundle = await sb.bundle(['sh', '-c', 'sleep 0.3; exit 4']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'w-init'])).code, 0);
  const initPid = JSON.parse((await sb.run(['state', 'w-init'])).stdout).pid;
  const wi = await sb.run(['wait', '--pid', String(initPid), 'w-init']);
  assert.deepEqual(JSON.parse(wi.stdout), { id: 'w-init', pid: initPid, exitStatus: 4 });
  assert.equal((await sb.run(['delete', 'w-init'])).code, 0);
});

test('wait --rootpid: the pid as the sandbox\'s root pid namespace shows it; exec --internal-pid-file gives it', async () => {
  const ipf = path.join(sb.dir, 'inner2.pid');
  assert.equal((await sb.run(['exec', '-d', '--internal-pid-file', ipf, 'box', 'sh', '-c', 'sleep 0.5; kill -TERM $$'])).code, 0);
  const inner = Number(fs.readFileSync(ipf, 'utf8'));
  assert.ok(inner > 1 && inner < 1000, `a pid of the container's namespace: ${inner}`);
  const r = await sb.run(['wait', '--rootpid', String(inner), 'box']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { id: 'box', pid: inner, exitStatus: 143 });
  const none = await sb.run(['wait', '--rootpid', '999999', 'box']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /waiting on PID in root PID namespace 999999 in container "box": no such live process/);
});

test('flags prints every global flag with its default and help (Go\'s layout); named ones only; an unknown one refused', async () => {
  const all = await sb.run(['flags']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^ {2}-criu string\n {4}\t.*\(default "criu"\)\n/m);
  assert.match(all.stdout, /^ {2}-debug\n {4}\tenable debug logging/m);
  assert.match(all.stdout, /^ {2}-debug-log string\n {4}\tadditional location for this command's log/m);
  assert.match(all.stdout, /^ {2}-log-fd int\n {4}\t.*\(default -1\)\n/m);
  assert.match(all.stdout, /^ {2}-h\tequivalent to the 'help' flag\n/m);
  const names = [...all.stdout.matchAll(/^ {2}-([a-z-]+)/gm)].map((m) => m[1]);
  assert.deepEqual(names, [...names].sort(), 'sorted, as Go visits them');
  const one = await sb.run(['flags', 'log-fd', '-root']);
  assert.equal(one.code, 0);
  assert.deepEqual([...one.stdout.matchAll(/^ {2}-([a-z-]+)/gm)].map((m) => m[1]), ['log-fd', 'root']);
  const bad = await sb.run(['flags', 'nope']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /no such global flag: -nope/);
});

test('unique-prefix ids: every command takes a unique prefix; an exact id wins; an ambiguous prefix is refused naming the candidates', async () => {
  const bundle = await sb.bundle(['sleep', '100']);
  for (const id of ['pfx-a', 'pfx-ab', 'pfx-zeta']) assert.equal((await sb.run(['create', '-b', bundle, id])).code, 0);
  try {
    assert.equal(JSON.parse((await sb.run(['state', 'pfx-z'])).stdout).id, 'pfx-zeta');
    assert.equal(JSON.parse((await sb.run(['state', 'pfx-a'])).stdout).id, 'pfx-a', 'an exact id wins over a longer one it prefixes');
    const amb = await sb.run(['state', 'pfx-']);
    assert.equal(amb.code, 1);
    assert.equal(amb.stderr, 'id "pfx-" is ambiguous and could refer to multiple containers: "pfx-a", "pfx-ab", "pfx-zeta"\n');
    assert.equal((await sb.run(['start', 'pfx-ze'])).code, 0);
    const ex = await sb.run(['exec', 'pfx-ze', 'true']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal((await sb.run(['ps', '-f', 'json', 'pfx-ze'])).code, 0);
    assert.equal((await sb.run(['pause', 'pfx-ze'])).code, 0);
    assert.equal((await sb.run(['resume', 'pfx-ze'])).code, 0);
    assert.equal((await sb.run(['kill', 'pfx-ze', 'KILL'])).code, 0);
    const w = await sb.run(['wait', 'pfx-ze']);
    assert.deepEqual(JSON.parse(w.stdout), { id: 'pfx-zeta', exitStatus: 137 });
    assert.match((await sb.run(['debug', 'pfx-ze'])).stdout, /container pfx-zeta: stopped/);
    const del = await sb.run(['delete', 'pfx-']);
    assert.equal(del.code, 1, 'ambiguous: nothing deleted');
    assert.equal((await sb.run(['list', '-q'])).stdout.split('\n').filter((l) => l.startsWith('pfx-')).length, 3);
    const forced = await sb.run(['delete', '-f', 'pfx-ab']);
    assert.equal(forced.code, 0);
    assert.equal((await sb.run(['delete', '-f', 'pfx-ab'])).code, 0, 'a gone id with --force: nothing to do (runc), never pfx-ab\'s prefix-mates');
    assert.equal((await sb.run(['delete', '-f', 'pfx-'])).code, 0, '--force takes exact ids only: pfx- is none');
    assert.equal((await sb.run(['list', '-q'])).stdout.split('\n').filter((l) => l.startsWith('pfx-')).length, 2);
    assert.equal((await sb.run(['delete', 'pfx-ze'])).code, 0);
    assert.equal((await sb.run(['state', 'pfx-zeta'])).code, 1);
  } finally {
    for (const id of ['pfx-a', 'pfx-ab', 'pfx-zeta']) await sb.run(['delete', '-f', id]);
  }
});

test('create --user-log: Kubernetes JSON lines of the container\'s and its processes\' changes; an unwritable path fails create, leaving nothing', async () => {
  const log = path.join(sb.dir, 'user.log');
  const bundle = await sb.bundle(['sh', '-c', 'sleep 0.3; exit 2']);
  assert.equal((await sb.run(['run', '-d', '--user-log', log, '-b', bundle, 'ul'])).code, 0);
  assert.equal(JSON.parse((await sb.run(['wait', 'ul'])).stdout).exitStatus, 2);
  assert.equal((await sb.run(['delete', 'ul'])).code, 0);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.every((l) => l.stream === 'stderr' && l.log.endsWith('\n') && !Number.isNaN(Date.parse(l.time))));
  const text = lines.map((l) => l.log).join('');
  assert.match(text, /container ul: \S+ -> running\n/);
  assert.match(text, /init \(pid \d+\): exited with status 2\n/);
  const bad = await sb.run(['create', '--user-log', path.join(sb.dir, 'no', 'such', 'dir', 'u.log'), '-b', bundle, 'ul2']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--user-log ".*u\.log": ENOENT/);
  assert.equal((await sb.run(['state', 'ul2'])).code, 1);
  assert.equal(fs.existsSync(path.join(sb.root, 'ul2')), false);
});

test('debug --pid finds the container holding a process; --signal signals its init; bad input refused', async () => {
  const byInit = await sb.run(['debug', '--pid', String(boxInit)]);
  assert.equal(byInit.code, 0, byInit.stderr);
  assert.match(byInit.stdout, /container box: running/);
  for (const [args, re] of [
    [['debug', '--pid', '1'], /container with PID 1 not found/],
    [['debug', '--pid', String(boxInit), 'box'], /container ID should not be provided when -pid is set/],
    [['debug'], /container ID should be provided when -pid is not set/],
    [['debug', '--signal', '0', 'box'], /signal 0 sends nothing/],
    [['debug', '--signal', 'BOGUS', 'box'], /unknown signal "BOGUS"/],
    [['debug', '--duration', '1s', 'box'], /-duration applies to -profile-cpu and -trace only/],
  ] as Array<[string[], RegExp]>) {
    const r = await sb.run(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }
  assert.ok(alive(boxInit), 'no bad input touched the container');
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'sig'])).code, 0);
  const s = await sb.run(['debug', '--signal', 'KILL', 'sig']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /^Sending signal 9 to process: \d+\n/);
  assert.equal(JSON.parse((await sb.run(['wait', 'sig'])).stdout).exitStatus, 137);
  const stopped = await sb.run(['debug', '--signal', 'KILL', 'sig']);
  assert.equal(stopped.code, 1);
  assert.match(stopped.stderr, /container sandbox is not running/);
  assert.equal((await sb.run(['delete', 'sig'])).code, 0);
});

test('debug --profile-cpu and --profile-heap: the daemon\'s profile and heap snapshot, as Chrome DevTools reads them', async () => {
  const cpu = path.join(sb.dir, 'd.cpuprofile');
  const heap = path.join(sb.dir, 'd.heapsnapshot');
  const r = await sb.run(['debug', '--profile-cpu', cpu, '--duration', '300ms', '--profile-heap', heap, 'box'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(fs.readFileSync(cpu, 'utf8'));
  assert.ok(Array.isArray(p.nodes) && p.nodes.length > 0 && p.endTime > p.startTime);
  assert.ok(p.endTime - p.startTime >= 250_000, 'µs: about the duration asked for');
  const h = JSON.parse(fs.readFileSync(heap, 'utf8'));
  assert.ok(h.snapshot?.meta && Array.isArray(h.nodes) && h.nodes.length > 0);
  assert.match(r.stdout, /container box: running/);
  const bad = await sb.run(['debug', '--profile-cpu', path.join(sb.dir, 'no', 'dir', 'x.cpuprofile'), '--duration', '10ms', 'box']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /writing profile ".*x\.cpuprofile": ENOENT/);
});
