// linux.intelRdt against a directory laid out like a resctrl mount (this host has no resctrl:
// the real one needs Intel RDT or AMD QoS in the CPU). The rules are runtime-spec's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareRdt, removeRdt, resctrlMount, schemataWrites } from '../src/cgroups/resctrl.js';
import { buildExecPlan, readExecHostFacts } from '../src/oci/plan.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-resctrl-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function mount(features = ''): string {
  const m = path.join(tmp, `m${++n}`);
  fs.mkdirSync(path.join(m, 'info', 'L3_MON'), { recursive: true });
  fs.writeFileSync(path.join(m, 'info', 'L3_MON', 'mon_features'), features);
  return m;
}

test('resctrl is found in mountinfo', () => {
  assert.equal(resctrlMount('31 23 0:28 / /sys/fs/resctrl rw,relatime - resctrl resctrl rw\n'), '/sys/fs/resctrl');
  assert.equal(resctrlMount('31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n'), null);
});

test('schemata: l3 and MB combined (MB: lines of l3CacheSchema dropped), schemata last', () => {
  assert.deepEqual(schemataWrites({ l3CacheSchema: 'L3:0=7f0;1=1f\nMB:0=10', memBwSchema: 'MB:0=20;1=70' }), ['L3:0=7f0;1=1f\nMB:0=20;1=70']);
  assert.deepEqual(schemataWrites({ l3CacheSchema: 'L3:0=ff', schemata: 'L2:0=f' }), ['L3:0=ff', 'L2:0=f']);
  assert.deepEqual(schemataWrites({ closID: 'x' }), []);
});

test('no closID: a class named after the container, made with its schemata, removed at delete', () => {
  const m = mount();
  const g = prepareRdt({ l3CacheSchema: 'L3:0=f' }, 'c1', m);
  assert.deepEqual(g, { dir: path.join(m, 'c1'), created: true });
  assert.equal(fs.readFileSync(path.join(m, 'c1', 'schemata'), 'utf8'), 'L3:0=f\n');
  fs.rmSync(path.join(m, 'c1', 'schemata')); // the kernel's files go with rmdir; a plain dir needs them gone
  removeRdt(g);
  assert.equal(fs.existsSync(path.join(m, 'c1')), false);
});

test('closID with schemata: made when missing; an existing class must have the same schemata, and is kept', () => {
  const m = mount();
  const g = prepareRdt({ closID: 'gold', memBwSchema: 'MB:0=20' }, 'c2', m);
  assert.equal(g.created, true);
  const again = prepareRdt({ closID: 'gold', memBwSchema: 'MB:0=20' }, 'c3', m);
  assert.deepEqual(again, { dir: path.join(m, 'gold'), created: false });
  assert.throws(() => prepareRdt({ closID: 'gold', memBwSchema: 'MB:0=50' }, 'c4', m), /class "gold" exists with other schemata/);
  removeRdt(again);
  assert.equal(fs.existsSync(path.join(m, 'gold')), true, 'a class runa did not make stays');
});

test('closID alone: a pre-configured class that must exist', () => {
  const m = mount();
  assert.throws(() => prepareRdt({ closID: 'silver' }, 'c5', m), /linux\.intelRdt\.closID: the pre-configured class "silver" does not exist/);
  fs.mkdirSync(path.join(m, 'silver'));
  assert.deepEqual(prepareRdt({ closID: 'silver' }, 'c5', m), { dir: path.join(m, 'silver'), created: false });
});

test('no resctrl, or monitoring the host lacks: refused in runc\'s words', () => {
  assert.throws(() => prepareRdt({}, 'c6', null), /intelRdt is specified in config, but Intel RDT is not supported or enabled/);
  assert.throws(() => prepareRdt({ enableCMT: true }, 'c6', mount('mbm_total_bytes\n')), /enableCMT: Intel RDT CMT is not supported/);
  assert.throws(() => prepareRdt({ enableMBM: true }, 'c6', mount('llc_occupancy\n')), /enableMBM: Intel RDT MBM is not supported/);
  const g = prepareRdt({ enableCMT: true, enableMBM: true }, 'c7', mount('llc_occupancy\nmbm_total_bytes\n'));
  assert.equal(g.created, true);
});

test('the container\'s processes join the class themselves: the exec plan writes 0 to its tasks after the cgroup join', () => {
  const input = {
    process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['HOME=/'] } as any, execDir: '/x', initPid: process.pid, namespaces: ['mount'],
    cgroupDirs: { monitor: [], child: ['/sys/fs/cgroup/x'] }, rdtDir: '/sys/fs/resctrl/c1',
  };
  const plan = buildExecPlan(input, readExecHostFacts(input));
  const i = plan.findIndex((o) => o.op === 'write' && o.path === '/sys/fs/cgroup/x/cgroup.procs');
  const j = plan.findIndex((o) => o.op === 'write' && o.path === '/sys/fs/resctrl/c1/tasks');
  assert.ok(i >= 0 && j === i + 1, JSON.stringify(plan.map((o) => o.op)));
});
