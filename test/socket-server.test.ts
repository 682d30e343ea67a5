// The bus socket's per-connection limits (src/bus/socket-server.ts), on a server of its own in
// this process: what one read of many frames is served as.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bus, type Session } from '../src/bus/bus.js';
import { serveSocket, TURN, MAX_IN_FLIGHT } from '../src/bus/socket-server.js';
import { RawWs } from './helpers/raw-ws.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-test-socket-server-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const request = (cid: string) => RawWs.frame(0x1, Buffer.from(JSON.stringify({ kind: 'request', cid, body: { type: 'daemon.ping' } })));

test('one read of many frames is taken TURN at a time, in turns that alternate with another connection\'s; every request answered, in order', async () => {
  const bus = new Bus();
  const order: Session[] = [];
  bus.handle('daemon.ping', (_body, env) => { order.push(env.session!); return {}; });
  const server = await serveSocket(bus, path.join(dir, 'a.sock'));
  const [a, b] = [await RawWs.open(path.join(dir, 'a.sock')), await RawWs.open(path.join(dir, 'a.sock'))];
  try {
    const N = 200;
    // Both reads are in the kernel before the server looks: one turn finds them both.
    a.write(Buffer.concat(Array.from({ length: N }, (_, i) => request(`a${i}`))));
    b.write(Buffer.concat(Array.from({ length: N }, (_, i) => request(`b${i}`))));
    assert.equal(await a.waitFor(N, 20_000), true, 'all of a\'s answered');
    assert.equal(await b.waitFor(N, 20_000), true, 'all of b\'s answered');
    assert.deepEqual(a.responses.map((r) => r.cid), Array.from({ length: N }, (_, i) => `a${i}`));
    assert.deepEqual(b.responses.map((r) => r.cid), Array.from({ length: N }, (_, i) => `b${i}`));
    assert.ok(a.responses.every((r) => r.kind === 'reply') && b.responses.every((r) => r.kind === 'reply'));
    // The runs of one connection's requests between the other's: TURN each, never MAX_IN_FLIGHT.
    const runs: number[] = [];
    order.forEach((s, i) => { if (i > 0 && s === order[i - 1]) runs[runs.length - 1]++; else runs.push(1); });
    assert.ok(TURN < MAX_IN_FLIGHT);
    assert.ok(Math.max(...runs) <= TURN, `runs of ${runs.join(', ')}`);
    assert.ok(runs.length >= (2 * N) / TURN - 1, `runs of ${runs.join(', ')}: they alternate`);
  } finally {
    a.destroy();
    b.destroy();
    await server.close();
  }
});
