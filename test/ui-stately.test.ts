// `runa ui --stately`: the daemon's live actors reach @statelyai/inspect's relay, as frames
// its bridge page hands to Stately's inspector. Offline: a WebSocket client on the relay
// stands in for the bridge page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import WebSocket from 'ws';
import { Sandbox, until } from './helpers/runa.js';

const sb = new Sandbox('ui');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

/** A free loopback port. */
async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The local addresses a TCP port is listened on (/proc/net/tcp, state 0A). */
function listeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hex}`) && f[3] === '0A').map((f) => f[1].split(':')[0]);
}

test('ui --stately forwards the daemon\'s frames to Stately\'s relay on loopback, in the form its receiver accepts', async () => {
  await sb.run(['delete', '-f', 'warmup']); // the daemon
  const port = await freePort();
  const ui = sb.spawn(['ui', '--stately', '--port', String(port)]);
  let out = '';
  ui.stdout!.on('data', (d) => { out += d; });
  try {
    await until(() => out.includes('Stately inspector bridge'), 'the bridge to start');
    assert.match(out, new RegExp(`http://localhost:${port}`));
    assert.deepEqual(listeners(port), ['0100007F'], 'the relay listens on 127.0.0.1 only');
    // The bridge page is served.
    const page = await new Promise<string>((resolve) => http.get(`http://127.0.0.1:${port}/`, (r) => { let b = ''; r.on('data', (d) => { b += d; }); r.on('end', () => resolve(b)); }));
    assert.match(page, /<iframe id="inspector"/);
    // A client on the relay (the bridge page's place) receives frames as a container runs.
    const frames: any[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    assert.equal((await sb.run(['run', '-b', await sb.bundle(['true']), 'seen'])).code, 0);
    await until(() => frames.some((f) => f.type === '@xstate.snapshot' && f.snapshot?.context?.id === 'seen'), 'frames of the container');
    const actor = frames.find((f) => f.type === '@xstate.actor' && typeof f.definition === 'string' && JSON.parse(f.definition).id === 'container');
    assert.ok(actor, 'an @xstate.actor frame with the container machine\'s definition as a JSON string');
    for (const f of frames) {
      assert.ok(['@xstate.actor', '@xstate.event', '@xstate.snapshot'].includes(f.type), f.type);
      assert.ok(f.sessionId && f.rootId && f._version !== undefined && f.createdAt, `the receiver's fields: ${JSON.stringify(f).slice(0, 300)}`);
    }
    ws.close();
  } finally {
    ui.kill('SIGTERM');
    await new Promise((r) => ui.once('exit', r));
  }
  assert.deepEqual(listeners(port), [], 'the relay is gone with the command');
  const bad = await sb.run(['ui', '--stately', '--listen', '127.0.0.1:1']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--listen is for the page; the Stately bridge takes --port/);
});
