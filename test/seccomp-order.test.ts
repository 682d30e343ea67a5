// Where nsinit loads the seccomp filter (issue 28): as late as runc does, and with nothing of
// nsinit's own after it. With noNewPrivileges the filter is loaded right before execve, so a
// profile that denies everything (SCMP_ACT_ERRNO) but what a static busybox needs after its
// execve runs, for the init and for exec'd processes alike; without noNewPrivileges it is
// loaded before the ids and capabilities change (runc), and nsinit no longer needs close_range
// under it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox } from './helpers/runa.js';
import { defaultProfile, SYSPROBE } from './helpers/seccomp.js';
import { defaultSpec } from '../src/oci/default-spec.js';

const sb = new Sandbox('seccomp-order');
const BUSYBOX = '/bin/busybox';
const haveBusybox = fs.existsSync(BUSYBOX);
const skip = haveBusybox ? false : 'busybox not installed: apt-get install busybox-static';

before(async () => {
  const rootfs = await sb.rootfs();
  for (const [from, to] of [[SYSPROBE, 'sysprobe'], ...(haveBusybox ? [[BUSYBOX, 'busybox']] : [])]) {
    fs.copyFileSync(from, path.join(rootfs, 'bin', to));
    fs.chmodSync(path.join(rootfs, 'bin', to), 0o755);
  }
});
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

/**
 * What a static busybox (glibc) needs after its execve to print a line, found by dropping one
 * syscall at a time: without brk or arch_prctl glibc cannot set up TLS, without mprotect it
 * exits 127 (RELRO), without write echo fails; everything else it tries (set_tid_address,
 * set_robust_list, rseq, prlimit64, readlink, getrandom, getuid, prctl, ...) may fail.
 */
const MINIMAL = ['execve', 'exit_group', 'brk', 'arch_prctl', 'mprotect', 'write'];
const denyAllBut = (names: string[], errnoRet?: number) => ({
  defaultAction: 'SCMP_ACT_ERRNO', ...(errnoRet !== undefined ? { defaultErrnoRet: errnoRet } : {}),
  architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names, action: 'SCMP_ACT_ALLOW' }],
});

let n = 0;
async function inside(args: string[], seccomp: unknown, edit?: (s: any) => void) {
  const bundle = await sb.bundle(args, (s) => { s.linux.seccomp = seccomp; edit?.(s); });
  return sb.run(['run', '-b', bundle, `so${++n}`]);
}
/** sysprobe's lines: [ret, errno] per call. */
const probe = (out: string) => out.trim().split('\n').filter((l) => /^-?\d+ \d+$/.test(l)).map((l) => l.split(' ').map(Number));

test('deny by default (SCMP_ACT_ERRNO), allowing only what busybox needs after execve: echo and true run', { skip }, async () => {
  const echo = await inside(['/bin/busybox', 'echo', 'hello'], denyAllBut(MINIMAL));
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout, 'hello\n');
  assert.equal(echo.stderr, '');
  const t = await inside(['/bin/busybox', 'true'], denyAllBut(MINIMAL.filter((s) => s !== 'write')));
  assert.equal(t.code, 0, t.stderr);
  // The filter is there, and it is the program's: without write echo cannot print...
  const mute = await inside(['/bin/busybox', 'echo', 'hello'], denyAllBut(MINIMAL.filter((s) => s !== 'write')));
  assert.equal(mute.code, 1);
  assert.equal(mute.stdout, '');
  // ...and execve itself is the first syscall under it.
  const noexec = await inside(['/bin/busybox', 'true'], denyAllBut(MINIMAL.filter((s) => s !== 'execve')));
  assert.equal(noexec.code, 1);
  assert.match(noexec.stderr, /starting container process: exec "\/bin\/busybox": Operation not permitted/);
});

test('defaultErrnoRet ENXIO: the program runs, and what it is denied fails with ENXIO', async () => {
  // sysprobe: getppid (110) and getpid (39), each printed as "<ret> <errno>".
  const r = await inside(['/bin/sysprobe', '110', '39'], denyAllBut(MINIMAL, 6));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(probe(r.stdout), [[-1, 6], [-1, 6]]);
  if (!haveBusybox) return;
  const echo = await inside(['/bin/busybox', 'echo', 'hello'], denyAllBut(MINIMAL, 6));
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout, 'hello\n');
});

test('exec into a container under such a profile: the exec\'d process starts too, under the same filter', { skip }, async () => {
  const bundle = await sb.bundle(['/bin/busybox', 'sleep', '600'], (s) => { s.linux.seccomp = denyAllBut([...MINIMAL, 'clock_nanosleep', 'nanosleep'], 6); });
  const id = 'so-exec';
  const run = await sb.run(['run', '-d', '-b', bundle, id]);
  assert.equal(run.code, 0, run.stderr);
  try {
    const e = await sb.run(['exec', id, '/bin/busybox', 'echo', 'from exec']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, 'from exec\n');
    const p = await sb.run(['exec', id, '/bin/sysprobe', '110']);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(probe(p.stdout), [[-1, 6]]);
  } finally {
    await sb.run(['delete', '-f', id]);
  }
});

test('without noNewPrivileges the filter comes before the credential change (runc), and close_range is not needed under it', async () => {
  // Docker's allow-list without close_range: nsinit marks fds close-on-exec before the filter.
  const caps: string[] = (defaultSpec() as any).process.capabilities.bounding;
  const docker = defaultProfile('docker', caps) as { syscalls: Array<{ names: string[]; action: string; args?: unknown }> };
  const allow = docker.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args)
    .map((s) => ({ ...s, names: s.names.filter((x) => x !== 'close_range') }));
  const profile = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: allow };
  const r = await inside(['sh', '-c', 'echo ok; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status'], profile, (s) => { s.process.noNewPrivileges = false; });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok$/m);
  assert.match(r.stdout, /NoNewPrivs:\s+0/);
  assert.match(r.stdout, /Seccomp:\s+2/);
  const id = 'so-nonnp';
  const bundle = await sb.bundle(['sleep', '600'], (s) => { s.linux.seccomp = profile; s.process.noNewPrivileges = false; });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, id])).code, 0);
  try {
    const e = await sb.run(['exec', id, 'sh', '-c', 'echo exec ok']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, 'exec ok\n');
  } finally {
    await sb.run(['delete', '-f', id]);
  }
});
