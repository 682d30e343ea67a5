// nsinit's netdev/netdev-move and idmap-userns/hold-idmap ops on their own: the helper's and the
// kernel's refusals as nsinit reports them (the CLI's side is test/netdev-idmap.test.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { PlanOp } from '../src/nsinit/plan.js';
import { useNsinit } from './helpers/nsinit.js';
import { until } from './helpers/runa.js';

const h = useNsinit({ prefix: 'runa-nsinit-netdev-' });
const { tempDir, setupError } = h;
const haveVeth = (() => {
  const r = spawnSync('ip', ['link', 'add', 'rnvprobe', 'type', 'veth', 'peer', 'name', 'rnvprobep']);
  spawnSync('ip', ['link', 'del', 'rnvprobe']);
  return r.status === 0 ? false : 'needs iproute2 and veth';
})();
const made: string[] = [];
after(() => { for (const n of made) if (fs.existsSync(`/sys/class/net/${n}`)) spawnSync('ip', ['link', 'del', n]); });

test('netdev-move: the helper\'s refusal fails the op with its errno and the interface; one moved before it goes with the namespace', { skip: haveVeth }, async () => {
  const name = `rnv${process.pid % 100000}`;
  assert.equal(spawnSync('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]).status, 0);
  made.push(name, `${name}p`);
  const dir = await tempDir('state');
  const plan: PlanOp[] = [
    { op: 'statedir', path: dir },
    { op: 'netdev', host: name, name: 'first0' },
    { op: 'netdev', host: 'rnvnosuch', name: 'second0' },
    { op: 'unshare', namespaces: ['net'] },
    { op: 'netdev-move' },
    { op: 'fork' }, { op: 'arg', value: 'true' }, { op: 'gate' }, { op: 'exec' },
  ];
  assert.equal(await setupError(plan, dir),
    'error\t19\tnetdev "rnvnosuch": no such network interface in the runtime\'s network namespace: No such device\n');
  // The first one moved into the monitor's namespace, which went with the monitor: a veth is destroyed with it.
  await until(() => !fs.existsSync(`/sys/class/net/${name}`) && !fs.existsSync(`/sys/class/net/${name}p`), 'the veth pair to go', 5000);
});

test('netdev: names nsinit cannot hand to the kernel; netdev-move without netdev', async () => {
  const dir = await tempDir('state');
  const tail: PlanOp[] = [{ op: 'fork' }, { op: 'arg', value: 'true' }, { op: 'gate' }, { op: 'exec' }];
  assert.equal(await setupError([{ op: 'statedir', path: dir }, { op: 'netdev', host: 'lo', name: 'x'.repeat(16) }, ...tail], dir),
    `error\t22\tnetdev "lo" "${'x'.repeat(16)}": an interface name is 1 to 15 bytes: Invalid argument\n`);
  assert.equal(await setupError([{ op: 'statedir', path: dir }, { op: 'netdev-move' }, ...tail], dir),
    'error\t22\tnetdev-move: no "netdev" before it: Invalid argument\n');
});

test('idmap-userns and hold-idmap: the kernel\'s refusal of a map, and indexes that name nothing', async () => {
  const dir = await tempDir('state');
  const tail: PlanOp[] = [{ op: 'fork' }, { op: 'arg', value: 'true' }, { op: 'gate' }, { op: 'exec' }];
  // Overlapping ranges: the kernel refuses the uid_map write.
  assert.equal(await setupError([{ op: 'statedir', path: dir }, { op: 'idmap-userns', uidMap: '0 1000 10\n5 2000 10\n', gidMap: '0 0 1\n' }, ...tail], dir),
    'error\t22\tidmap-userns: a user namespace with uid_map "0 1000 10\\n5 2000 10\\n" and gid_map "0 0 1\\n": Invalid argument\n');
  assert.equal(await setupError([{ op: 'statedir', path: dir }, { op: 'hold-idmap', index: 0, userns: 0, recursive: false }, ...tail], dir),
    'error\t22\thold-idmap 0: no such held mount: Invalid argument\n');
  assert.equal(await setupError([{ op: 'statedir', path: dir }, { op: 'hold', path: dir, recursive: false }, { op: 'hold-idmap', index: 0, userns: 0, recursive: false }, ...tail], dir),
    `error\t22\thold-idmap "${dir}": no user namespace 0: Invalid argument\n`);
});
