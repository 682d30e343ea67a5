// runsc's --strace, --strace-syscalls and --strace-log-size (issue 27): the monitor traces the
// container's processes with ptrace and appends one strace line per syscall to --debug-log.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Sandbox, alive, sleep, until } from './helpers/runa.js';
import { SECCOMP_AGENT, SYSPROBE } from './helpers/seccomp.js';
import { SYSCALLS } from '../src/seccomp/syscalls.js';
import { STRACE_SIGNATURES } from '../src/oci/plan/strace-signatures.js';
import { checkStraceSyscalls, stracePlan } from '../src/oci/plan/strace.js';
import { encodePlan } from '../src/nsinit/plan.js';

const sb = new Sandbox('strace');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

let logs = 0;
const newLog = () => path.join(sb.dir, 'logs', `log-${++logs}.txt`);
/** The strace lines of a debug log, without their glog prefix (`[pid N] …`). */
function traced(log: string): string[] {
  return fs.readFileSync(log, 'utf8').split('\n').filter((l) => / strace\] /.test(l)).map((l) => l.slice(l.indexOf(' strace] ') + 9));
}
/**
 * The lines with each syscall whole again: a `[pid N] name(args <unfinished ...>` and its later
 * `[pid N] <... name resumed>rest` (split because another task's line came between) as one line,
 * where the first stood.
 */
function joined(lines: string[]): string[] {
  const out: string[] = [];
  const open = new Map<string, number>();
  for (const l of lines) {
    const u = /^(\[pid \d+\] )(.*) <unfinished \.\.\.>$/.exec(l);
    const r = /^(\[pid \d+\] )<\.\.\. \w+ resumed>(.*)$/.exec(l);
    if (u) {
      open.set(u[1], out.length);
      out.push(u[1] + u[2]);
    } else if (r && open.has(r[1])) {
      out[open.get(r[1])!] += r[2];
      open.delete(r[1]);
    } else {
      out.push(l);
    }
  }
  return out;
}
/** A static helper of native/test/ in the rootfs's /bin. */
async function helper(file: string): Promise<void> {
  const bin = path.join(await sb.rootfs(), 'bin', path.basename(file));
  if (!fs.existsSync(bin)) fs.copyFileSync(file, bin);
}
const withThreads = () => helper(path.resolve('native/test/threads'));
const statusOf = (pid: number) => fs.readFileSync(`/proc/${pid}/status`, 'utf8');
const tracerOf = (pid: number) => Number(/^TracerPid:\s+(\d+)/m.exec(statusOf(pid))![1]);
const stateOf = async (id: string) => JSON.parse((await sb.run(['state', id])).stdout) as { status: string; pid: number };

test('every syscall, decoded as strace prints it, one line each, from the program\'s execve to its exit; children followed with the pid the container gives them', async () => {
  const log = newLog();
  const bundle = await sb.bundle(['sh', '-c', 'cat /etc/hostname; echo hello; (echo child; exit 4); exit 3']);
  const r = await sb.run(['--debug-log', log, '--strace', 'run', '-b', bundle, 'decoded']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'runa\nhello\nchild\n');
  const raw = fs.readFileSync(log, 'utf8');
  // runsc's glog layout, the monitor's pid, source `strace`.
  assert.match(raw, /^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ strace\] \[pid 1\] execve\(/m);
  const split = traced(log);
  const lines = joined(split);
  // Nothing of nsinit's: the first line is the program's first exec (execvp trying PATH).
  assert.match(lines[0], /^\[pid 1\] execve\("[^"]+\/sh", \["sh", "-c", "cat \/etc\/hostname; echo hello; \(echo child; exit 4\); exit 3"\], 0x[0-9a-f]+ \/\* \d+ vars \*\/\) = (0|-1 ENOENT \(No such file or directory\))$/);
  assert.ok(lines.some((l) => /^\[pid 1\] execve\(.*\) = 0$/.test(l)), 'the exec that worked');
  const has = (re: RegExp, what: string) => assert.ok(lines.some((l) => re.test(l)), `${what}: ${re}\n${lines.join('\n')}`);
  has(/^\[pid 2\] openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY(\|O_[A-Z]+)*\) = 3$/, 'a path and open flags, in cat (pid 2)');
  has(/^\[pid 1\] write\(1, "hello\\n", 6\) = 6$/, 'a write\'s buffer, quoted');
  has(/^\[pid \d+\] mmap\(NULL, \d+, PROT_READ\|PROT_WRITE, MAP_PRIVATE\|MAP_ANONYMOUS, -1, 0\) = 0x[0-9a-f]+$/, 'mmap\'s prot and flags, its result in hex');
  has(/^\[pid \d+\] openat\(AT_FDCWD, "[^"]+", O_RDONLY\|O_CLOEXEC\) = -1 ENOENT \(No such file or directory\)$/, 'an errno by name');
  has(/^\[pid 1\] clone\(CLONE_[A-Z_|]+\|SIGCHLD, /, 'clone\'s flags and exit signal');
  has(/^\[pid 3\] write\(1, "child\\n", 6\) = 6$/, 'the subshell, as pid 3');
  has(/^\[pid 3\] \+\+\+ exited with 4 \+\+\+$/, 'its exit');
  has(/^\[pid 1\] --- SIGCHLD \{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3, si_uid=0, si_status=4\} ---$/, 'a signal, decoded');
  has(/^\[pid 1\] wait4.*\[\{WIFEXITED\(s\) && WEXITSTATUS\(s\) == 4\}\], 0, NULL\) = 3$/, 'a wait status');
  has(/^\[pid \d+\] newfstatat\(\d+, "", \{st_mode=S_IFREG\|0\d+, st_size=\d+, \.\.\.\}, AT_EMPTY_PATH\) = 0$/, 'a struct stat');
  assert.equal(lines.at(-2), '[pid 1] exit_group(3) = ?');
  assert.equal(lines.at(-1), '[pid 1] +++ exited with 3 +++');
  // Another task's line between a syscall's entry and exit splits it, as strace -f does.
  assert.ok(split.some((l) => l.includes('<unfinished ...>')), 'the shell\'s wait4 waits while its children run');
  for (const l of split.filter((x) => x.includes('<unfinished ...>'))) assert.match(l, /^\[pid \d+\] \w+\(.* <unfinished \.\.\.>$/);
  for (const l of split.filter((x) => x.includes(' resumed>'))) assert.match(l, /^\[pid \d+\] <\.\.\. \w+ resumed>.*\) = /);
  assert.deepEqual((await sb.run(['list', '-q'])).stdout, '', 'run deleted it');
});

test('threads are followed; exec\'d processes are traced into the container\'s log, or with exec --strace into the exec\'s own', async () => {
  await withThreads();
  const log = newLog();
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['--debug-log', log, '--strace', '--strace-syscalls', 'write,exit,clone3', 'run', '-d', '-b', bundle, 'execs'])).code, 0);
  const ex = await sb.run(['exec', 'execs', 'threads']);
  assert.equal(ex.code, 0, ex.stderr);
  const tid = Number(/^thread (\d+)$/m.exec(ex.stdout)![1]);
  const lines = joined(traced(log));
  // The exec'd process is pid 2; its thread, tid as the thread saw it.
  assert.ok(lines.some((l) => /^\[pid 2\] clone3\(\{flags=CLONE_VM\|.*CLONE_THREAD.*, exit_signal=0, /.test(l)), lines.join('\n'));
  assert.ok(lines.includes(`[pid ${tid}] write(1, "thread ${tid}\\n", ${`thread ${tid}\n`.length}) = ${`thread ${tid}\n`.length}`), lines.join('\n'));
  assert.ok(lines.includes(`[pid ${tid}] +++ exited with 0 +++`));
  assert.ok(lines.includes('[pid 2] write(1, "joined\\n", 7) = 7'));
  assert.equal(lines.at(-1), '[pid 2] +++ exited with 0 +++');
  assert.ok(!lines.some((l) => /\] (mmap|openat|brk)\(/.test(l)), 'the container\'s filter applies to its exec\'d processes');
  // exec --strace: its own log and filter; the container's log gets nothing of it.
  const own = newLog();
  const before = traced(log).length;
  const ex2 = await sb.run(['--debug-log', own, '--strace', '--strace-syscalls', 'getpid', 'exec', 'execs', 'sh', '-c', 'echo $$']);
  assert.equal(ex2.code, 0, ex2.stderr);
  assert.deepEqual(traced(own).filter((l) => !l.includes('+++')), [`[pid ${ex2.stdout.trim()}] getpid() = ${ex2.stdout.trim()}`]);
  assert.equal(traced(log).length, before);
  // Without --strace, nothing traces: the init has no tracer.
  const plain = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', plain, 'untraced'])).code, 0);
  assert.equal(tracerOf((await stateOf('untraced')).pid), 0, 'no ptrace at all when off');
  assert.notEqual(tracerOf((await stateOf('execs')).pid), 0, 'the monitor traces the --strace one');
  // The container's log gone (its directory removed): an exec into it fails, saying so, rather than run untraced.
  const gone = path.join(sb.dir, 'gone');
  assert.equal((await sb.run(['--debug-log', path.join(gone, 'log'), '--strace', 'run', '-d', '-b', plain, 'nolog'])).code, 0);
  fs.rmSync(gone, { recursive: true });
  const nolog = await sb.run(['exec', 'nolog', 'true']);
  assert.equal(nolog.code, 255);
  assert.equal(nolog.stderr, `strace: open "${path.join(gone, 'log')}": No such file or directory\n`);
  assert.equal((await stateOf('nolog')).status, 'running');
  for (const id of ['execs', 'untraced', 'nolog']) assert.equal((await sb.run(['delete', '-f', id])).code, 0);
});

test('--strace-syscalls traces only those; --strace-log-size cuts strings and buffers; --debug-log-format json', async () => {
  const log = newLog();
  const bundle = await sb.bundle(['sh', '-c', 'echo hello-world; printf x; cat /etc/hostname']);
  const r = await sb.run(['--debug-log', log, '--debug-log-format', 'json', '--strace', '--strace-syscalls', 'write,openat', '--strace-log-size', '4', 'run', '-b', bundle, 'filtered']);
  assert.equal(r.code, 0, r.stderr);
  const entries = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.source === 'strace');
  assert.ok(entries.every((e) => e.level === 'info' && !Number.isNaN(Date.parse(e.time))));
  const msgs = entries.map((e) => e.msg as string);
  const calls = msgs.filter((m) => !/\] (\+\+\+|---) /.test(m)).map((m) => /^\[pid \d+\] (?:<\.\.\. )?(\w+)/.exec(m)![1]);
  assert.deepEqual([...new Set(calls)].sort(), ['openat', 'write'], msgs.join('\n'));
  assert.ok(msgs.includes('[pid 1] write(1, "hell"..., 12) = 12'), msgs.join('\n'));
  // A result that is its own syscall's number (write is 1) is a result, not a seccomp kill's rollback.
  assert.ok(msgs.includes('[pid 1] write(1, "x", 1) = 1'), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^\[pid 2\] openat\(AT_FDCWD, "\/etc"\.\.\., O_RDONLY\) = 3$/.test(m)), msgs.join('\n'));
  // 0 is runsc's 1024.
  const zero = newLog();
  const long = 'x'.repeat(1500);
  assert.equal((await sb.run(['--debug-log', zero, '--strace', '--strace-syscalls', 'write', '--strace-log-size', '0', 'run', '-b', await sb.bundle(['echo', long]), 'zero'])).code, 0);
  assert.ok(traced(zero).includes(`[pid 1] write(1, "${'x'.repeat(1024)}"..., 1501) = 1501`));
});

test('exit statuses and signals are the untraced ones: SIGTERM is 143, kill KILL 137, a stop stays a stop until SIGCONT, pause and resume', async () => {
  const log = newLog();
  // No pid namespace: the init is no pid 1 and dies of SIGTERM.
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid'); });
  assert.equal((await sb.run(['--debug-log', log, '--strace', 'run', '-d', '-b', bundle, 'term'])).code, 0);
  const init = (await stateOf('term')).pid;
  assert.equal((await sb.run(['kill', 'term', 'STOP'])).code, 0);
  await until(() => /^State:\s+t/m.test(statusOf(init)), 'stopped (traced)');
  await sleep(200);
  assert.match(statusOf(init), /^State:\s+t/m, 'still stopped: the tracer keeps the group-stop');
  assert.equal((await sb.run(['kill', 'term', 'CONT'])).code, 0);
  await until(() => /^State:\s+S/m.test(statusOf(init)), 'running again');
  assert.equal((await sb.run(['pause', 'term'])).code, 0);
  assert.equal((await stateOf('term')).status, 'paused');
  assert.equal((await sb.run(['resume', 'term'])).code, 0);
  assert.equal((await stateOf('term')).status, 'running');
  assert.equal((await sb.run(['kill', 'term', 'TERM'])).code, 0);
  const w = await sb.run(['wait', 'term']);
  assert.deepEqual(JSON.parse(w.stdout), { id: 'term', exitStatus: 143 });
  const lines = traced(log);
  for (const want of ['--- SIGSTOP {si_signo=SIGSTOP, si_code=SI_USER', '--- stopped by SIGSTOP ---', '--- SIGCONT {si_signo=SIGCONT, si_code=SI_USER', '--- SIGTERM {si_signo=SIGTERM, si_code=SI_USER', '+++ killed by SIGTERM +++']) {
    assert.ok(lines.some((l) => l.includes(want)), `${want}\n${lines.join('\n')}`);
  }
  assert.equal((await sb.run(['delete', 'term'])).code, 0);
  // With a pid namespace: KILL is 137; an exec'd process killed by TERM is 143.
  const killed = await sb.bundle(['sleep', '1000']);
  const klog = newLog();
  assert.equal((await sb.run(['--debug-log', klog, '--strace', 'run', '-d', '-b', killed, 'kill9'])).code, 0);
  const ex = await sb.run(['exec', 'kill9', 'sh', '-c', 'kill -TERM $$']);
  assert.equal(ex.code, 143, ex.stderr);
  assert.equal((await sb.run(['kill', 'kill9', 'KILL'])).code, 0);
  assert.deepEqual(JSON.parse((await sb.run(['wait', 'kill9'])).stdout), { id: 'kill9', exitStatus: 137 });
  assert.ok(traced(klog).includes('[pid 1] +++ killed by SIGKILL +++'), traced(klog).join('\n'));
  assert.equal((await sb.run(['delete', 'kill9'])).code, 0);
});

test('the container\'s seccomp filter still applies: an ERRNO rule shows as that errno, a KILL_PROCESS rule as a call that never returns', async () => {
  const errno = newLog();
  const denied = await sb.bundle(['sh', '-c', 'mkdir /tmp/x; echo $?'], (s) => {
    s.process.noNewPrivileges = true;
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
  });
  const r = await sb.run(['--debug-log', errno, '--strace', '--strace-syscalls', 'mkdir,mkdirat', 'run', '-b', denied, 'denied']);
  assert.equal(r.stdout, '1\n');
  assert.ok(traced(errno).some((l) => /^\[pid 2\] mkdir(at\(AT_FDCWD, |\()"\/tmp\/x", 0777\) = -1 EACCES \(Permission denied\)$/.test(l)), traced(errno).join('\n'));
  const kill = newLog();
  const killed = await sb.bundle(['sh', '-c', 'mkdir /tmp/x; echo $?'], (s) => {
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }] };
  });
  const k = await sb.run(['--debug-log', kill, '--strace', '--strace-syscalls', 'mkdir,mkdirat', 'run', '-b', killed, 'killed']);
  assert.equal(k.stdout, '159\n', 'the shell saw its child die of SIGSYS');
  assert.ok(traced(kill).some((l) => /^\[pid 2\] mkdir(at\(AT_FDCWD, |\()"\/tmp\/x", 0777\) = \?$/.test(l)), traced(kill).join('\n'));
  assert.ok(traced(kill).some((l) => /^\[pid 2\] \+\+\+ killed by SIGSYS( \(core dumped\))? \+\+\+$/.test(l)));
});

test('a seccomp user-notification listener still answers: the traced call returns what the agent said', async () => {
  await helper(SYSPROBE);
  const sock = path.join(sb.dir, 'agent.sock');
  const agent = spawn(SECCOMP_AGENT, [sock, path.join(sb.dir, 'agent-state.json'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  agent.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => agent.on('exit', (c) => res(c)));
  try {
    await until(() => out.includes('listening'), 'agent listening');
    const log = newLog();
    const bundle = await sb.bundle(['sysprobe', '83,0'], (s) => {
      s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: sock, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
    });
    const r = await sb.run(['--debug-log', log, '--strace', '--strace-syscalls', 'mkdir', 'run', '-b', bundle, 'notified']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '42 0\n', 'mkdir returned what the agent said');
    assert.equal(await exited, 0, 'the agent saw the listener close');
    assert.ok(traced(log).includes('[pid 1] mkdir(NULL, 000) = 42'), traced(log).join('\n'));
  } finally {
    agent.kill('SIGKILL');
  }
});

test('in a user namespace of its own the container is traced too (the monitor has no capability over the host\'s)', async () => {
  fs.chmodSync(sb.dir, 0o755);
  const rootfs = await sb.rootfs();
  for (let d = rootfs; d !== sb.dir; d = path.dirname(d)) fs.chmodSync(d, 0o755);
  const log = newLog();
  const bundle = await sb.bundle(['sh', '-c', 'id -u'], (s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  });
  const r = await sb.run(['--debug-log', log, '--strace', '--strace-syscalls', 'write', 'run', '-b', bundle, 'userns']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '0\n');
  assert.ok(traced(log).includes('[pid 2] write(1, "0\\n", 2) = 2'), traced(log).join('\n'));
});

test('bad input is refused before anything is made: an unknown syscall, --strace without --debug-log, the other two without --strace, a bad size', async () => {
  const where = path.join(sb.dir, 'never');
  const bundle = await sb.bundle(['true']);
  const cases: Array<[string[], RegExp]> = [
    [['--debug-log', path.join(where, 'l'), '--strace', '--strace-syscalls', 'write,nosuch', 'run', '-b', bundle, 'bad1'], /^--strace-syscalls: syscall "nosuch" not found\n$/],
    [['--debug-log', path.join(where, 'l'), '--strace', '--strace-syscalls', 'write,', 'run', '-b', bundle, 'bad2'], /^--strace-syscalls: syscall "" not found\n$/],
    [['--strace', 'run', '-b', bundle, 'bad3'], /--strace needs --debug-log: that is where its lines go/],
    [['--debug-log-fd', '2', '--strace', 'run', '-b', bundle, 'bad4'], /--strace needs --debug-log: its lines are written by the container's monitors/],
    [['--debug-log', path.join(where, 'l'), '--strace-syscalls', 'write', 'run', '-b', bundle, 'bad5'], /--strace-syscalls needs --strace/],
    [['--debug-log', path.join(where, 'l'), '--strace-log-size', '10', 'run', '-b', bundle, 'bad6'], /--strace-log-size needs --strace/],
    [['--debug-log', path.join(where, 'l'), '--strace', '--strace-log-size', 'ten', 'run', '-b', bundle, 'bad7'], /invalid value "ten" for flag -strace-log-size: parse error/],
  ];
  for (const [args, want] of cases) {
    const r = await sb.run(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
  assert.ok(!fs.existsSync(where), 'no debug log made');
  assert.equal((await sb.run(['list', '-q'])).stdout, '');
  assert.deepEqual(fs.readdirSync(sb.root).filter((n) => n.startsWith('bad')), []);
  // A command that starts no process takes it (runsc's flag is global) and traces nothing.
  const st = await sb.run(['--debug-log', newLog(), '--strace', 'list']);
  assert.equal(st.code, 0, st.stderr);
});

test('the plan: every syscall of the arches nsinit traces has a signature of known kinds; names are checked per arch', () => {
  const kinds = new Set(['d', 'ld', 'u', 'x', 'o', 'fd', 'atfd', 'p', 's', 'ib', 'iv', 'of', 'om', 'fl', 'prot', 'mapf', 'clone', 'cf', 'sig', 'argv', 'envp',
    'whence', 'amode', 'atf', 'how', 'fcntl', 'farg', 'ioctl', 'ts', 'cl3', 'ob', 'ov', 'os', 'wst', 'st', 'pfd']);
  for (const arch of ['x86_64', 'aarch64'] as const) {
    for (const name of Object.keys(SYSCALLS[arch])) {
      const sig = STRACE_SIGNATURES[name];
      assert.ok(sig !== undefined, `${arch} ${name} has no signature`);
      const [args, ret] = sig.split('=');
      assert.ok(ret === undefined || ['d', 'x', 'o', 'n'].includes(ret), `${name}: return kind ${ret}`);
      const list = args === '' ? [] : args.split(',');
      assert.ok(list.length <= 6 && list.every((k) => kinds.has(k)), `${name}: ${sig}`);
    }
  }
  assert.throws(() => checkStraceSyscalls(['open'], 'aarch64'), /syscall "open" not found/, 'aarch64 has no open');
  const ops = stracePlan({ log: '/l', format: 'text', logSize: 0, syscalls: ['write', 'read', 'write'] }, 'x86_64');
  assert.deepEqual(ops, [
    { op: 'strace', log: '/l', format: 'text', size: 1024, all: false },
    { op: 'strace-call', nr: 1, name: 'write', kinds: 'fd,ib,u' },
    { op: 'strace-call', nr: 0, name: 'read', kinds: 'fd,ob,u' },
  ]);
  assert.equal(encodePlan(ops.slice(0, 2)).toString(), 'strace\0/l\0text\x001024\x000\0strace-call\x001\0write\0fd,ib,u\0');
  assert.equal(stracePlan({ log: '/l', format: 'json', logSize: 7, syscalls: null }, 'x86_64').length, 1 + Object.keys(SYSCALLS.x86_64).length);
});

test('what outlives the process exec started goes on, untraced, once that process\'s monitor is gone (no PTRACE_O_EXITKILL)', async () => {
  const log = newLog();
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['--debug-log', log, '--strace', 'run', '-d', '-b', bundle, 'outlive'])).code, 0);
  const init = (await stateOf('outlive')).pid;
  const ex = await sb.run(['exec', 'outlive', 'sh', '-c', 'sleep 1000 >/dev/null 2>&1 & echo $!']);
  assert.equal(ex.code, 0, ex.stderr);
  const pids = JSON.parse((await sb.run(['ps', '--format', 'json', 'outlive'])).stdout) as number[];
  const bg = pids.find((p) => p !== init)!;
  assert.ok(bg, `${pids}`);
  await until(() => tracerOf(bg) === 0, 'let go by its tracer');
  assert.ok(alive(bg), 'the background process lives on');
  // (Its lines end with its monitor's: which of them were written before is a race.)
  assert.equal((await sb.run(['delete', '-f', 'outlive'])).code, 0);
  await until(() => !alive(bg), 'gone with its container');
});
