// Crash consistency: the daemon killed with SIGKILL at each kill point of a create
// (RUNA_KILL_POINT, src/faults.ts). The create fails; the next daemon undoes what the dead one
// had done (its cgroup directories, its state dir) from the intent it recorded first, and the
// id can be used again. Nothing is left.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until, alive } from './helpers/runa.js';
import { cgroupDirs } from './helpers/callers.js';
import { KILL_POINTS } from '../src/faults.js';

const sb = new Sandbox('crash');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

for (const point of KILL_POINTS) {
  test(`a daemon killed at ${point} leaves nothing a next daemon does not undo, and the id can be used again`, async () => {
    const id = `crash-${point.replace(/\W/g, '-')}`;
    const bundle = await sb.bundle(['true']);
    // A daemon of its own, which dies at that point.
    assert.equal((await sb.run(['list'])).code, 0);
    const old = sb.daemonPid();
    if (old) { process.kill(old, 'SIGTERM'); await until(() => !alive(old), 'the previous daemon gone'); }
    const r = await sb.run(['create', '-b', bundle, id], { env: { RUNA_KILL_POINT: point } });
    assert.notEqual(r.code, 0, 'the create failed');
    assert.match(r.stderr, /connection to runa daemon closed|daemon/);
    const dead = sb.daemonPid();
    if (dead) await until(() => !alive(dead), 'the daemon dead');
    assert.ok(fs.existsSync(path.join(sb.root, id)), 'the half-made state dir is there');
    if (point !== 'create:claimed') assert.ok(cgroupDirs(`/runa/${id}`).length > 0, 'and its cgroups');
    // The next daemon (the next create starts it) rolls it back, and the id is free again.
    const again = await sb.run(['create', '-b', bundle, id]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(fs.readFileSync(path.join(sb.root, 'daemon.log'), 'utf8'), new RegExp(`rolled back the create of "${id}"`));
    assert.equal((await sb.run(['delete', '-f', id])).code, 0);
    assert.deepEqual(cgroupDirs(`/runa/${id}`), [], 'no cgroup directory left');
    assert.equal(fs.existsSync(path.join(sb.root, id)), false, 'no state dir left');
  });
}
