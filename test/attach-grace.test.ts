// src/cgroups/attach-grace.ts: the head start on nsinit's cgroup join. Which cgroup.procs file
// it writes (its own cgroup, in a hierarchy whose attach does nothing to a process already in
// it), and, on this host's real cgroups, that the write moves nothing and changes nothing about
// the process, and that a second start while one is under way is not begun.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ownProcsFile, startAttachGrace, attachGraceInFlight } from '../src/cgroups/attach-grace.js';
import * as grace from '../src/cgroups/attach-grace.js';
import { detectCgroups, type CgroupLayout } from '../src/cgroups/index.js';

const hybrid: CgroupLayout = {
  mode: 'hybrid',
  v1: { cpuset: '/sys/fs/cgroup/cpuset', pids: '/sys/fs/cgroup/pids', freezer: '/sys/fs/cgroup/freezer', 'name=systemd': '/sys/fs/cgroup/systemd' },
  v2: '/sys/fs/cgroup/unified',
  mountRoots: { '/sys/fs/cgroup/cpuset': '/', '/sys/fs/cgroup/pids': '/', '/sys/fs/cgroup/freezer': '/', '/sys/fs/cgroup/systemd': '/', '/sys/fs/cgroup/unified': '/' },
};
const selfHybrid = '12:cpuset:/a\n8:pids:/system.slice/x.service\n6:freezer:/\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n';

test('v1 and hybrid: the pids hierarchy, never cpuset', () => {
  assert.equal(ownProcsFile(hybrid, selfHybrid), '/sys/fs/cgroup/pids/system.slice/x.service/cgroup.procs');
  const noPids = { ...hybrid, v1: { cpuset: hybrid.v1.cpuset, freezer: hybrid.v1.freezer } };
  assert.equal(ownProcsFile(noPids, selfHybrid), '/sys/fs/cgroup/freezer/cgroup.procs');
  // Only cpuset mounted on v1, no cgroup2: nothing rather than cpuset's attach.
  assert.equal(ownProcsFile({ mode: 'v1', v1: { cpuset: '/c' }, v2: null }, '3:cpuset:/\n'), null);
});

test('v2: the unified hierarchy; a mount of a sub-tree is taken into account', () => {
  const v2: CgroupLayout = { mode: 'v2', v1: {}, v2: '/sys/fs/cgroup', mountRoots: { '/sys/fs/cgroup': '/' } };
  assert.equal(ownProcsFile(v2, '0::/user.slice/u.scope\n'), '/sys/fs/cgroup/user.slice/u.scope/cgroup.procs');
  const ns: CgroupLayout = { ...v2, mountRoots: { '/sys/fs/cgroup': '/kubepods/pod1' } };
  assert.equal(ownProcsFile(ns, '0::/kubepods/pod1/c\n'), '/sys/fs/cgroup/c/cgroup.procs');
  assert.equal(ownProcsFile(ns, '0::/kubepods/pod1\n'), '/sys/fs/cgroup/cgroup.procs');
  // Its own cgroup outside what is mounted: nothing.
  assert.equal(ownProcsFile(ns, '0::/elsewhere\n'), null);
  assert.equal(ownProcsFile(v2, ''), null);
});

test('pure v2: no head start (nsinit clones into the cgroup and writes no cgroup.procs)', () => {
  const v2: CgroupLayout = { mode: 'v2', v1: {}, v2: '/nonexistent-cgroup2', mountRoots: { '/nonexistent-cgroup2': '/' } };
  const n = grace.attachGraceStarts;
  startAttachGrace(() => v2);
  assert.equal(grace.attachGraceStarts, n, 'nothing written');
});

test('on this host: the write moves nothing, and one start at a time', { skip: process.getuid?.() !== 0 ? 'needs root (cgroup.procs)' : false }, async (t) => {
  let layout: CgroupLayout;
  try { layout = detectCgroups(); } catch { t.skip('no cgroup filesystem mounted'); return; }
  const file = ownProcsFile(layout, fs.readFileSync('/proc/self/cgroup', 'utf8'));
  if (file === null || !fs.existsSync(file)) { t.skip('this process\'s own cgroup is not in a mounted hierarchy'); return; }
  const before = fs.readFileSync('/proc/self/cgroup', 'utf8');
  const affinity = fs.readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:.*$/m)?.[0];
  const n = grace.attachGraceStarts;
  startAttachGrace(() => layout);
  assert.equal(grace.attachGraceStarts, n + 1, 'a start was begun');
  assert.ok(attachGraceInFlight());
  startAttachGrace(() => layout);
  assert.equal(grace.attachGraceStarts, n + 1, 'not a second one while the first is under way');
  for (let i = 0; i < 400 && attachGraceInFlight(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(attachGraceInFlight(), false, 'the write finished');
  assert.equal(fs.readFileSync('/proc/self/cgroup', 'utf8'), before, 'the process is where it was');
  assert.equal(fs.readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:.*$/m)?.[0], affinity);
  startAttachGrace(() => layout);
  assert.equal(grace.attachGraceStarts, n + 2, 'the write succeeded, so the next start is begun');
  for (let i = 0; i < 400 && attachGraceInFlight(); i++) await new Promise((r) => setTimeout(r, 5));
});
