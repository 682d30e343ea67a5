// linux.seccomp in real containers, observed from inside: every action, argument filters on
// 64-bit boundaries, the default profiles of podman and Docker, ENOSYS for newer syscalls,
// exec'd processes, a notification listener, and bad input that creates nothing.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until } from './helpers/runa.js';
import { defaultProfile, nr, SECCOMP_AGENT, SYSPROBE } from './helpers/seccomp.js';
import { defaultSpec } from '../src/oci/default-spec.js';

const sb = new Sandbox('seccomp');
const BUSYBOX = '/bin/busybox';
const haveBusybox = fs.existsSync(BUSYBOX);

before(async () => {
  const rootfs = await sb.rootfs();
  fs.copyFileSync(SYSPROBE, path.join(rootfs, 'bin', 'sysprobe'));
  fs.chmodSync(path.join(rootfs, 'bin', 'sysprobe'), 0o755);
  if (haveBusybox) {
    fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  }
});
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

let n = 0;
/** Run args in a container with `seccomp` (and more edits); resolves with the CLI's result. */
async function inside(args: string[], seccomp: unknown, edit?: (s: any) => void) {
  const bundle = await sb.bundle(args, (s) => { s.linux.seccomp = seccomp; edit?.(s); });
  return sb.run(['run', '-b', bundle, `sc${++n}`]);
}
/** sysprobe's lines: [ret, errno] per call. */
const probe = (out: string) => out.trim().split('\n').filter((l) => /^-?\d+ \d+$/.test(l)).map((l) => l.split(' ').map(Number));

const allowAllBut = (action: object) => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [action] });
const CAPS: string[] = (defaultSpec() as any).process.capabilities.bounding;

test('ERRNO with a chosen errno: mkdir fails with ENXIO, seen by the program', async () => {
  const r = await inside(['sh', '-c', 'mkdir /tmp/x; echo status=$?; sysprobe 83,0'], allowAllBut({ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 6 }));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /status=1/);
  assert.match(r.stderr + r.stdout, /No such device or address/);
  assert.deepEqual(probe(r.stdout), [[-1, 6]]);
});

test('KILL and KILL_PROCESS end the process with SIGSYS (exit status 159)', async () => {
  for (const action of ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS']) {
    const r = await inside(['sysprobe', String(nr('getppid'))], allowAllBut({ names: ['getppid'], action }));
    assert.equal(r.code, 159, `${action}: ${r.stderr}`);
    assert.equal(r.stdout, '');
  }
});

test('TRAP sends SIGSYS naming the syscall; LOG and ALLOW let it through', async () => {
  const trap = await inside(['sysprobe', '--trap', String(nr('getppid'))], allowAllBut({ names: ['getppid'], action: 'SCMP_ACT_TRAP' }));
  assert.equal(trap.code, 0, trap.stderr);
  assert.match(trap.stdout, new RegExp(`^sigsys ${nr('getppid')}$`, 'm'));
  for (const action of ['SCMP_ACT_LOG', 'SCMP_ACT_ALLOW']) {
    const r = await inside(['sysprobe', String(nr('getppid'))], { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['getppid'], action }, ...dockerAllow()] });
    assert.equal(r.code, 0, `${action}: ${r.stderr}`);
    assert.equal(probe(r.stdout)[0][1], 0, action);
  }
});

/** Docker's unconditional allow-list: enough for nsinit's last steps and any program here. */
function dockerAllow(except: string[] = []) {
  const p = defaultProfile('docker', CAPS) as { syscalls: Array<{ names: string[]; action: string; args?: unknown }> };
  return p.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).map((s) => ({ ...s, names: s.names.filter((x) => !except.includes(x)) }));
}

test('the default action and its errno apply to every syscall the profile does not name', async () => {
  const profile = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 95, syscalls: dockerAllow(['getppid']) };
  const r = await inside(['sysprobe', String(nr('getppid')), String(nr('getpid'))], profile);
  assert.equal(r.code, 0, r.stderr);
  const [ppid, pid] = probe(r.stdout);
  assert.deepEqual(ppid, [-1, 95]);
  assert.deepEqual(pid, [1, 0], 'getpid is allowed, and the container is PID 1');
});

test('argument filters on 64-bit boundary values, for every operator (noNewPrivileges on and off)', async () => {
  const V = 0x100000000n;
  const ops: Array<[string, string, (a: bigint) => boolean]> = [
    ['getpid', 'SCMP_CMP_EQ', (a) => a === V], ['getppid', 'SCMP_CMP_NE', (a) => a !== V],
    ['getuid', 'SCMP_CMP_LT', (a) => a < V], ['geteuid', 'SCMP_CMP_LE', (a) => a <= V],
    ['getgid', 'SCMP_CMP_GT', (a) => a > V], ['getegid', 'SCMP_CMP_GE', (a) => a >= V],
    ['gettid', 'SCMP_CMP_MASKED_EQ', (a) => (a & 0xffffffff00000001n) === 0x100000001n],
  ];
  const syscalls = ops.map(([name, op], i) => ({
    names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: 100 + i,
    args: [{ index: 3, op, value: op === 'SCMP_CMP_MASKED_EQ' ? 0xffffffff00000001n : V, valueTwo: op === 'SCMP_CMP_MASKED_EQ' ? 0x100000001n : 0 }],
  }));
  const values = [0n, 0xffffffffn, V - 1n, V, V + 1n, 0x100000001n, 0x200000000n, 0xffffffffffffffffn];
  const calls = ops.flatMap(([name]) => values.map((v) => `${nr(name)},0,0,0,0x${v.toString(16)}`));
  for (const noNewPrivileges of [true, false]) {
    // Values above 2^53 do not survive JSON numbers: config.json gets the integers' own digits.
    const bundle = await sb.bundle(['sysprobe', ...calls], (s) => {
      s.process.noNewPrivileges = noNewPrivileges;
      s.linux.seccomp = JSON.parse(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls }, (_k, v) => (typeof v === 'bigint' ? `BIG${v}` : v)));
    });
    const file = path.join(bundle, 'config.json');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/"BIG(\d+)"/g, '$1'));
    const r = await sb.run(['run', '-b', bundle, `args${noNewPrivileges}`]);
    assert.equal(r.code, 0, r.stderr);
    const got = probe(r.stdout);
    let k = 0;
    ops.forEach(([name, op, holds], i) => {
      for (const v of values) {
        const [ret, errno] = got[k++];
        if (holds(v)) assert.deepEqual([ret, errno], [-1, 100 + i], `${name} ${op} 0x${v.toString(16)}`);
        else assert.equal(errno, 0, `${name} ${op} 0x${v.toString(16)}: ${ret} ${errno}`);
      }
    });
  }
});

test('Seccomp: 2 in /proc/self/status, for the init and for exec\'d processes, with the same filter', async () => {
  const bundle = await sb.bundle(['sleep', '60'], (s) => { s.linux.seccomp = allowAllBut({ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 6 }); });
  const id = 'status';
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    const st = await sb.run(['exec', id, 'sh', '-c', 'grep -E "^Seccomp(_filters)?:" /proc/1/status /proc/self/status; sysprobe 83,0']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /\/proc\/1\/status:Seccomp:\s+2/);
    assert.match(st.stdout, /\/proc\/1\/status:Seccomp_filters:\s+1/);
    assert.match(st.stdout, /\/proc\/self\/status:Seccomp:\s+2/);
    assert.deepEqual(probe(st.stdout), [[-1, 6]]);
  } finally {
    await sb.run(['delete', '-f', id]);
  }
});

for (const which of ['podman', 'docker'] as const) {
  test(`${which}'s default profile: a busybox shell works; what the profile denies is denied`, { skip: haveBusybox ? false : 'busybox not installed: apt-get install busybox-static' }, async () => {
    const profile = defaultProfile(which, CAPS);
    const script = [
      'echo hello; ls / >/dev/null && echo ls-ok; busybox wc -l /etc/passwd; busybox ps >/dev/null && echo ps-ok',
      'busybox unshare -m true 2>/dev/null; echo unshare=$?',
      'busybox mount -t tmpfs t /mnt 2>/dev/null; echo mount=$?',
      'busybox hostname other 2>/dev/null; echo hostname=$?',
      `sysprobe ${nr('keyctl')},0 ${nr('setns')},0,0 ${nr('acct')},0 452,-100,0,0,0`,
    ].join('; ');
    const r = await inside(['busybox', 'sh', '-c', script], profile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello$/m);
    assert.match(r.stdout, /^ls-ok$/m);
    assert.match(r.stdout, /^2 \/etc\/passwd$/m);
    assert.match(r.stdout, /^ps-ok$/m);
    // Docker's filter refuses these; podman's lets them reach the kernel, where the missing
    // capabilities refuse them. Either way they fail.
    for (const x of ['unshare', 'mount', 'hostname']) assert.match(r.stdout, new RegExp(`^${x}=[1-9]\\d*$`, 'm'), x);
    const [keyctl, setns, acct, newer] = probe(r.stdout);
    // Docker denies keyctl itself; podman's profile lets it reach the kernel (which refuses
    // KEYCTL_GET_KEYRING_ID of key 0 with another errno).
    if (which === 'docker') assert.deepEqual(keyctl, [-1, 1]);
    else assert.notEqual(keyctl[1], 1, `podman keyctl: ${keyctl}`);
    assert.deepEqual(setns, [-1, 1], 'setns: EPERM from the filter');
    assert.deepEqual(acct, [-1, 1], 'acct: EPERM');
    // fchmodat2 (452) came after both profiles: ENOSYS, so a libc would fall back.
    assert.deepEqual(newer, [-1, 38]);
  });
}

test('a syscall newer than the profile gets ENOSYS where the kernel itself would answer', async () => {
  const fchmodat2 = '452,-100,0,0,0'; // exists on this kernel: without a filter, EFAULT for the NULL path
  const without = await inside(['sysprobe', fchmodat2], undefined);
  assert.deepEqual(probe(without.stdout), [[-1, 14]]);
  const r = await inside(['sysprobe', fchmodat2], { defaultAction: 'SCMP_ACT_ERRNO', syscalls: dockerAllow() });
  assert.deepEqual(probe(r.stdout), [[-1, 38]]);
});

test('SCMP_ACT_NOTIFY: the listener gets the fd and the state, answers, and the container sees the answer', async () => {
  const sock = path.join(sb.dir, 'agent.sock');
  const stateFile = path.join(sb.dir, 'agent-state.json');
  const agent = spawn(SECCOMP_AGENT, [sock, stateFile, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  agent.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => agent.on('exit', (c) => res(c)));
  try {
    await until(() => out.includes('listening'), 'agent listening');
    const bundle = await sb.bundle(['sysprobe', '83,0', String(nr('getpid'))], (s) => {
      s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW', listenerPath: sock, listenerMetadata: 'runa-test@meta',
        syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
      };
      s.annotations = { 'org.example/at': 'a@b' };
    });
    const r = await sb.run(['run', '-b', bundle, 'notify']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(probe(r.stdout), [[42, 0], [1, 0]], 'mkdir returned what the agent said; getpid went through');
    assert.equal(await exited, 0, 'the agent saw the listener close when the container ended');
    assert.match(out, new RegExp(`^notified ${nr('mkdir')}$`, 'm'));
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    assert.deepEqual(state.fds, ['seccompFd']);
    assert.equal(state.metadata, 'runa-test@meta');
    assert.equal(typeof state.pid, 'number');
    assert.equal(state.state.pid, state.pid);
    assert.equal(state.state.id, 'notify');
    assert.equal(state.state.status, 'creating');
    assert.equal(state.state.bundle, bundle);
    assert.deepEqual(state.state.annotations, { 'org.example/at': 'a@b' });
    assert.equal(state.ociVersion, state.state.ociVersion);
  } finally {
    agent.kill('SIGKILL');
  }
});

test('bad profiles and an unreachable listener fail create, naming the field, and leave nothing', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ defaultAction: 'SCMP_ACT_NOPE' }, /config\.json: linux\.seccomp\.defaultAction: unknown action "SCMP_ACT_NOPE"/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 7, value: 0, op: 'SCMP_CMP_EQ' }] }] }, /linux\.seccomp\.syscalls\.0\.args\.0\.index/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_PDP11'] }, /linux\.seccomp\.architectures\.0: unknown architecture/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_BOGUS'] }, /linux\.seccomp\.flags\.0: unknown flag/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'm' }, /linux\.seccomp\.listenerMetadata: needs listenerPath/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: path.join(sb.dir, 'nobody.sock'), syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, /failed to connect with seccomp agent specified in the seccomp profile: seccomp-listener ".*nobody\.sock": No such file or directory/],
  ];
  for (const [seccomp, message] of cases) {
    const bundle = await sb.bundle(['true'], (s) => { s.linux.seccomp = seccomp; });
    const id = `bad${++n}`;
    const r = await sb.run(['create', '-b', bundle, id]);
    assert.equal(r.code, 1, JSON.stringify(seccomp));
    assert.match(r.stderr, message);
    assert.equal(fs.existsSync(path.join(sb.root, id)), false, 'nothing left behind');
    assert.equal((await sb.run(['state', id])).code, 1);
  }
});

test('unknown syscall names are skipped, said at debug level', async () => {
  const bundle = await sb.bundle(['sysprobe', '83,0'], (s) => {
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_syscall', 'mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 6 }] };
  });
  const r = await sb.run(['--debug', 'run', '-b', bundle, 'unknown']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(probe(r.stdout), [[-1, 6]]);
  assert.match(r.stderr, /level=debug msg="unknown seccomp syscall \\"no_such_syscall\\" ignored"/);
});

test('features reports seccomp as runc does', async () => {
  const r = await sb.run(['features']);
  const f = JSON.parse(r.stdout).linux.seccomp;
  assert.equal(f.enabled, true);
  assert.ok(f.actions.includes('SCMP_ACT_NOTIFY') && f.actions.includes('SCMP_ACT_KILL_PROCESS'));
  assert.ok(f.operators.includes('SCMP_CMP_MASKED_EQ'));
  assert.ok(f.archs.includes('SCMP_ARCH_X86_64') && f.archs.includes('SCMP_ARCH_X32'));
  assert.deepEqual(f.knownFlags, ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']);
  assert.ok(f.supportedFlags.includes('SECCOMP_FILTER_FLAG_SPEC_ALLOW'));
});
