// `fork CGROUP NEWPID` and `fork-sibling CGROUP NEWPID` (native/child.c): the child is created in
// a cgroup2 directory by clone3(CLONE_INTO_CGROUP), with no write of its cgroup.procs (and in a
// new pid namespace with NEWPID 1); where the kernel cannot (ENOSYS, E2BIG, EINVAL, EPERM, EAGAIN,
// ENOSPC) nsinit unshares the pid namespace, forks, and the child writes itself in: the same
// result; any other error fails as the write would have, naming the directory. Run against this
// host's cgroup2 mount (the unified one of a hybrid host, or /sys/fs/cgroup).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { detectCgroups } from '../src/cgroups/detect.js';
import type { PlanOp } from '../src/nsinit/plan.js';
import { compileSeccomp } from '../src/seccomp/index.js';
import { NSINIT, useNsinit } from './helpers/nsinit.js';
import { until } from './helpers/runa.js';

const V2 = (() => { try { return detectCgroups().v2; } catch { return null; } })();
const skip = process.getuid?.() !== 0 ? 'needs root'
  : !V2 || !fs.existsSync(path.join(V2, 'cgroup.procs')) ? 'needs a cgroup2 mount' : false;
const hasStrace = spawnSync('strace', ['-V']).status === 0;

const h = useNsinit({ prefix: 'runa-nsinit-cgroup-' });
const { defer, tempDir, writePlan, spawnWithSync, runNsinit, start, createdPid, openGate, setupError } = h;

/** A fresh cgroup2 directory (and `subs` below it), removed after the test, deepest first. */
function cgroup(...subs: string[]): string {
  const dir = path.join(V2!, `runa-nsinit-cgroup-${crypto.randomBytes(4).toString('hex')}`);
  const all = [dir, ...subs.map((s) => path.join(dir, s))];
  for (const d of all) fs.mkdirSync(d);
  defer(() => {
    for (const d of all.reverse()) fs.rmdirSync(d);
    assert.equal(fs.existsSync(dir), false);
  });
  return dir;
}

const procs = (dir: string): number[] => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
/** The cgroup v2 line of /proc/self/cgroup for a process in `dir` (a shell that writes itself in). */
const lineIn = (dir: string): string => {
  const r = spawnSync('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && grep '^0::' /proc/self/cgroup`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};
const tail = (args: string[]): PlanOp[] => [...args.map((value): PlanOp => ({ op: 'arg', value })), { op: 'gate' }, { op: 'exec' }];

test('fork CGROUP: the child is in the cgroup2 directory when it reports created, and its program runs there', { skip }, async () => {
  const dir = cgroup();
  const state = await tempDir('state');
  const run = await runNsinit([{ op: 'statedir', path: state }, { op: 'fork', cgroup: dir }, { op: 'pdeathsig', signal: 9 },
    ...tail(['grep', '^0::', '/proc/self/cgroup'])], state);
  const pid = createdPid(await run.sync);
  assert.deepEqual(procs(dir), [pid], 'in it at the gate');
  const client = await openGate(path.join(state, 'monitor.sock'));
  assert.deepEqual(await client.next(), { type: 'process.exited', exitStatus: 0, signal: 0 });
  assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stderr());
  assert.equal(run.stdout().trim(), lineIn(dir));
});

for (const newPid of [false, true]) {
  const how = newPid ? 'the fork makes the pid namespace (NEWPID 1)' : 'the monitor unshared the pid namespace';
  test(`fork CGROUP from a monitor in a new user namespace, ${how}: the child, pid 1 there, is in the cgroup`, { skip }, async () => {
    const dir = cgroup();
    const state = await tempDir('state');
    const map = '0 100000 65536\n';
    const run = await runNsinit([
      { op: 'statedir', path: state }, { op: 'userns', uidMap: map, gidMap: map }, ...(newPid ? [] : [{ op: 'unshare', namespaces: ['pid'] } as PlanOp]),
      { op: 'fork', cgroup: dir, newPid },
      { op: 'setgroups', gids: [] }, { op: 'setgid', gid: 0 }, { op: 'setuid', uid: 0 }, { op: 'pdeathsig', signal: 9 },
      ...tail(['/bin/sh', '-c', 'echo $$; grep "^0::" /proc/self/cgroup']),
    ], state);
    const pid = createdPid(await run.sync);
    assert.deepEqual(procs(dir), [pid]);
    assert.match(fs.readFileSync(`/proc/${pid}/uid_map`, 'utf8'), /^\s*0\s+100000\s+65536$/m, 'in the user namespace');
    const client = await openGate(path.join(state, 'monitor.sock'));
    assert.deepEqual(await client.next(), { type: 'process.exited', exitStatus: 0, signal: 0 });
    assert.equal(run.stdout(), `1\n${lineIn(dir)}\n`, run.stderr());
  });
}

test('fork CGROUP NEWPID is one clone3 with CLONE_NEWPID|CLONE_INTO_CGROUP: no unshare, no cgroup.procs opened (strace)', { skip: skip || (!hasStrace && 'needs strace: apt-get install strace') }, async () => {
  const dir = cgroup();
  const state = await tempDir('state');
  const log = path.join(state, 'strace.log');
  const file = await writePlan([{ op: 'statedir', path: state }, { op: 'fork', cgroup: dir, newPid: true }, { op: 'pdeathsig', signal: 9 }, ...tail(['true'])], state);
  const run = spawnWithSync('strace', ['-f', '-qq', '-o', log, '-e', 'trace=clone,clone3,fork,vfork,unshare,open,openat', NSINIT, file], file);
  // strace holds fd 3 too, until nsinit is gone: the created line, not the channel's end.
  createdPid(`${await run.channel.next()}\n`);
  const client = await openGate(path.join(state, 'monitor.sock'));
  assert.deepEqual(await client.next(), { type: 'process.exited', exitStatus: 0, signal: 0 });
  assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stderr());
  const lines = fs.readFileSync(log, 'utf8').split('\n');
  const clones = lines.filter((l) => /\b(clone3?|v?fork)\(/.test(l));
  assert.equal(clones.length, 1, clones.join('\n'));
  assert.match(clones[0], /clone3\(\{flags=CLONE_NEWPID\|CLONE_INTO_CGROUP, exit_signal=SIGCHLD, .*cgroup=\d+\}, 88\) = \d+/);
  assert.deepEqual(lines.filter((l) => /\bunshare\(/.test(l)), [], 'the pid namespace made by the clone');
  const opened = lines.filter((l) => l.includes(dir));
  assert.equal(opened.length, 1, opened.join('\n'));
  assert.match(opened[0], /openat\(AT_FDCWD, "[^"]+", O_RDONLY\|O_CLOEXEC\|O_PATH\|O_DIRECTORY\) = \d+/);
  assert.equal(lines.filter((l) => l.includes('cgroup.procs')).length, 0, 'no write to cgroup.procs');
});

/**
 * nsinit run by a child of nsinit that loaded a seccomp filter answering clone3 with `errno`
 * (what an old kernel or a container's profile does), on a plan whose child execs `cmd` in `dir`.
 */
async function underFilter(errno: number, dir: string, cmd: string[]) {
  const state = await tempDir('outer');
  const inner = await tempDir('inner');
  const innerPlan = await writePlan([{ op: 'statedir', path: inner }, { op: 'fork', cgroup: dir, newPid: true }, { op: 'pdeathsig', signal: 9 }, ...tail(cmd)], inner);
  const filter = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: errno }] });
  const run = await runNsinit([
    { op: 'statedir', path: state }, { op: 'fork' }, { op: 'pdeathsig', signal: 9 },
    { op: 'seccomp', flags: filter.flags, program: filter.program },
    ...tail([NSINIT, innerPlan]),
  ], state);
  const { client } = await start(run, state);
  /** The outer process's end: the inner nsinit's exit status. */
  const exited = async () => {
    const m = await client.next();
    assert.equal(m.type, 'process.exited');
    await run.exited;
    return m.exitStatus as number;
  };
  return { run, exited, innerSock: path.join(inner, 'monitor.sock') };
}

test('where the kernel cannot clone into the cgroup (ENOSYS, E2BIG, EINVAL, EPERM, EAGAIN, ENOSPC), the pid namespace is unshared, the child forked and it writes itself in: the same result', { skip }, async () => {
  const dir = cgroup();
  const want = `1\n${lineIn(dir)}`;
  for (const [name, errno] of [['ENOSYS', 38], ['E2BIG', 7], ['EINVAL', 22], ['EPERM', 1], ['EAGAIN', 11], ['ENOSPC', 28]] as const) {
    const f = await underFilter(errno, dir, ['/bin/sh', '-c', 'echo $$; grep "^0::" /proc/self/cgroup']);
    // In the cgroup at the gate (the inner monitor listens by then): open it.
    const [pid] = (await until(() => (procs(dir).length ? procs(dir) : null), `${name}: the inner child in ${dir}`))!;
    const inner = await openGate(f.innerSock);
    assert.deepEqual(await inner.next(), { type: 'process.exited', exitStatus: 0, signal: 0 }, `${name}: ${f.run.stderr()}`);
    assert.equal(await f.exited(), 0, name);
    assert.equal(f.run.stdout().trim(), want, name);
    assert.ok(pid > 0);
  }
});

test('another error of the clone fails the op, naming the directory (no fork and write behind it)', { skip }, async () => {
  const dir = cgroup();
  const f = await underFilter(13, dir, ['true']);
  assert.equal(await f.exited(), 1);
  assert.equal(f.run.stderr(), `nsinit: fork into the cgroup "${dir}": Permission denied\n`);
  assert.deepEqual(procs(dir), []);
});

test('fork CGROUP fails as the write of cgroup.procs would: a domain-invalid cgroup (EOPNOTSUPP), a missing one (ENOENT)', { skip }, async () => {
  // b threaded makes its parent a thread root and its sibling c a domain-invalid cgroup.
  const dir = cgroup('a', 'a/b', 'a/c');
  fs.writeFileSync(path.join(dir, 'a/b/cgroup.type'), 'threaded');
  const invalid = path.join(dir, 'a/c');
  const sleeper = spawn('sleep', ['100'], { stdio: 'ignore' });
  defer(() => { sleeper.kill('SIGKILL'); });
  let errno = 0;
  assert.throws(() => fs.writeFileSync(path.join(invalid, 'cgroup.procs'), String(sleeper.pid)), (e: NodeJS.ErrnoException) => { errno = -e.errno!; return true; });
  assert.equal(errno, 95, 'the write is refused with EOPNOTSUPP');
  const state = await tempDir('state');
  assert.equal(await setupError([{ op: 'statedir', path: state }, { op: 'fork', cgroup: invalid }, ...tail(['true'])], state),
    `error\t${errno}\tfork into the cgroup "${invalid}": Operation not supported\n`);
  assert.equal(await setupError([{ op: 'statedir', path: state }, { op: 'fork-sibling', cgroup: `${dir}/gone` }, ...tail(['true'])], state),
    `error\t2\tfork-sibling: open the cgroup "${dir}/gone": No such file or directory\n`);
  assert.deepEqual(procs(invalid), []);
});
