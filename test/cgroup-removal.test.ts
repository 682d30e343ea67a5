// src/cgroups/removal.ts: a container's cgroup removed at delete, at once when empty, else once
// what is left is killed; one the kernel still refuses is tried again in the background, said
// when it begins and when it gives up. The retries are driven here by a cgroup whose destroy()
// fails as told (no real process can be made to hold a cgroup busy on demand); the real cgroup
// of this host, with a live process in it, is removed whole.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Cgroup, CgroupError, detectCgroups, removeCgroup, RETRY_FOR_MS, type CgroupLayout, type Removable } from '../src/cgroups/index.js';

/** A cgroup whose steps answer as told, and record what was asked of them. */
function fake(o: { empty?: boolean; kill?: boolean | 'throws'; pids?: number[]; busy?: number } = {}) {
  const calls: string[] = [];
  let busy = o.busy ?? 0;
  const cg: Removable = {
    path: '/runa/fake',
    removeIfEmpty: () => { calls.push('removeIfEmpty'); return o.empty ?? false; },
    kill: () => {
      calls.push('kill');
      if (o.kill === 'throws') throw new CgroupError('cgroups: cannot kill the processes of /runa/fake: EACCES');
      return o.kill ?? true;
    },
    pids: () => { calls.push('pids'); return o.pids ?? []; },
    destroy: async () => {
      calls.push('destroy');
      if (busy-- > 0) throw new CgroupError('cgroups: cannot remove /sys/fs/cgroup/pids/runa/fake: EBUSY (device or resource busy)');
    },
  };
  return { cg, calls };
}

/** Await the background retries: their timers keep no process alive (a daemon leaves when it is idle), so the test does. */
async function settledOf(r: { settled: Promise<boolean> }): Promise<boolean> {
  const alive = setInterval(() => undefined, 1000);
  try { return await r.settled; } finally { clearInterval(alive); }
}

test('an empty cgroup goes at once: nothing is killed, nothing is said', async () => {
  const { cg, calls } = fake({ empty: true });
  const warnings: string[] = [];
  const r = await removeCgroup(cg, { warn: (m) => warnings.push(m) });
  assert.equal(r.removed, true);
  assert.equal(await r.settled, true);
  assert.deepEqual(calls, ['removeIfEmpty']);
  assert.deepEqual(warnings, []);
});

test('a populated cgroup: cgroup.kill where it can, then destroy', async () => {
  const { cg, calls } = fake({ kill: true });
  const r = await removeCgroup(cg, { warn: () => assert.fail('nothing to say') });
  assert.equal(r.removed, true);
  assert.deepEqual(calls, ['removeIfEmpty', 'kill', 'destroy']);
});

test('without cgroup.kill (v1, or it failed), what is left is killed one by one', async () => {
  for (const kill of [false, 'throws'] as const) {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    const gone = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const { cg, calls } = fake({ kill, pids: [child.pid!] });
    const r = await removeCgroup(cg, { warn: () => assert.fail('nothing to say') });
    assert.equal(r.removed, true);
    assert.deepEqual(calls, ['removeIfEmpty', 'kill', 'pids', 'destroy'], String(kill));
    assert.equal(await gone, 'SIGKILL', `${kill}: the process left in it was killed`);
  }
});

test('still busy after destroy()\'s wait: the delete goes on, the cgroup is tried again in the background until it goes', async () => {
  const { cg, calls } = fake({ busy: 3 });
  const warnings: string[] = [];
  const r = await removeCgroup(cg, { everyMs: 1, warn: (m) => warnings.push(m) });
  assert.equal(r.removed, false, 'not yet');
  assert.deepEqual(warnings, ['runa: warning: removing cgroup /runa/fake: cgroups: cannot remove /sys/fs/cgroup/pids/runa/fake: EBUSY (device or resource busy) (trying again for a minute)']);
  assert.equal(await settledOf(r), true, 'removed by a later try');
  assert.deepEqual(calls.filter((c) => c === 'destroy').length, 4, 'the first try and three more');
  assert.equal(warnings.length, 1, 'nothing more is said');
  assert.equal(RETRY_FOR_MS, 60_000, 'a minute, by default');
});

test('busy for good: it gives up after a while, and says the cgroup is left behind', async () => {
  const { cg, calls } = fake({ busy: Infinity });
  const warnings: string[] = [];
  const r = await removeCgroup(cg, { forMs: 20, everyMs: 2, warn: (m) => warnings.push(m) });
  assert.equal(r.removed, false);
  assert.equal(await settledOf(r), false);
  assert.ok(calls.filter((c) => c === 'destroy').length >= 2, 'tried again');
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /^runa: warning: removing cgroup \/runa\/fake: .*EBUSY.* \(trying again for 20 ms\)$/);
  assert.match(warnings[1], /^runa: warning: cgroup \/runa\/fake left behind: cgroups: cannot remove .*EBUSY/);
});

// The real thing: a cgroup of this host with a live process in it.
const host: CgroupLayout | null = (() => { try { return detectCgroups(); } catch { return null; } })();
const real = process.getuid?.() === 0 && host ? {} : { skip: 'needs root and cgroups' };
const TAG = `runa-removal-${crypto.randomBytes(4).toString('hex')}`;
const mounts = () => (host ? [...new Set([...Object.values(host.v1), ...(host.v2 ? [host.v2] : [])])] : []);
const leftovers = () => mounts().flatMap((m) => { try { return readdirSync(m).filter((e) => e.startsWith(TAG)).map((e) => path.join(m, e)); } catch { return []; } });
after(() => assert.deepEqual(leftovers(), [], 'no cgroup left'));

test('a real cgroup with a live process in it is removed whole: the process killed, every hierarchy\'s directory gone', real, async () => {
  const cg = Cgroup.open(host!, `/${TAG}`);
  cg.create();
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  const gone = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  cg.join(child.pid!);
  assert.ok(cg.pids().includes(child.pid!));
  const dirs = cg.createdDirs;
  assert.ok(dirs.length > 0);
  const r = await removeCgroup(cg, { warn: (m) => assert.fail(m) });
  assert.equal(r.removed, true);
  assert.equal(await gone, 'SIGKILL');
  for (const d of dirs) assert.equal(existsSync(d), false, `${d} removed`);
});
