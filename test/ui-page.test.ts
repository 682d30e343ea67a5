// `runa ui`: the self-hosted inspector page. The server's rules (loopback, the token, what a
// page may ask) are checked over HTTP and WebSocket; the page itself in Debian's chromium,
// driven by playwright-core, while containers go through their lives with the CLI.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { Sandbox, until, sleep } from './helpers/runa.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const NO_CHROMIUM = 'install Debian\'s chromium (apt-get install chromium) to run the inspector page in a browser';

const sb = new Sandbox('uipage');
let ui: ChildProcess;
let url = '';
let origin = '';
let token = '';

before(async () => {
  await sb.run(['delete', '-f', 'warmup']); // the daemon
  ui = sb.spawn(['ui', '--listen', '127.0.0.1:0']);
  let out = '';
  ui.stdout!.on('data', (d) => { out += d; });
  ui.stderr!.on('data', (d) => { out += d; });
  url = (await until(() => /runa ui: (http:\S+)/.exec(out)?.[1], 'runa ui to print its address'))!;
  const u = new URL(url);
  origin = u.origin;
  token = u.searchParams.get('token')!;
});

after(async () => {
  ui?.kill('SIGINT');
  if (ui && ui.exitCode === null) await new Promise((r) => ui.once('exit', r));
  assert.equal(ui.exitCode, 0, 'runa ui stops cleanly on Ctrl-C');
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }
function get(pathname: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http.get(`${origin}${pathname}`, { headers }, (r) => {
      let body = '';
      r.on('data', (d) => { body += d; });
      r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body }));
    }).on('error', reject);
  });
}

/** The local addresses a TCP port is listened on (/proc/net/tcp, state 0A). */
function listeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hex}`) && f[3] === '0A').map((f) => f[1].split(':')[0]);
}

function upgrade(headers: Record<string, string>): Promise<{ ws: WebSocket | null; status: number | null }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws`, { headers });
    ws.once('open', () => resolve({ ws, status: 101 }));
    ws.once('unexpected-response', (_req, res) => resolve({ ws: null, status: res.statusCode ?? null }));
    ws.once('error', () => resolve({ ws: null, status: null }));
  });
}

test('ui listens on loopback only and wants its token: without it, 403', async () => {
  const port = Number(new URL(url).port);
  assert.deepEqual(listeners(port), ['0100007F']);
  assert.match(token, /^[A-Za-z0-9_-]{32}$/, 'an unguessable token (24 random bytes)');
  for (const p of ['/', '/app.js', '/style.css', '/ws', `/?token=${token.slice(1)}x`, '/?token=']) {
    const r = await get(p);
    assert.equal(r.status, 403, `${p} without the token`);
    assert.doesNotMatch(r.body, /<html|elk/i);
  }
  // The right token from another origin (DNS rebinding: a Host that is not loopback).
  assert.equal((await get(`/?token=${token}`, { Host: `evil.example:${port}` })).status, 403);
  // The token moves into a cookie for this origin, and the page is then served.
  const r = await get(`/?token=${token}`);
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/');
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  assert.match(String(r.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  const page = await get('/', { Cookie: cookie });
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>runa inspector<\/title>/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/, 'nothing from elsewhere: no CDN');
  const app = await get('/app.js', { Cookie: cookie });
  assert.equal(app.status, 200);
  // ELK comes in a chunk of its own, served the same way.
  const chunks = [...new Set(app.body.match(/chunk-[A-Z0-9]+\.js/g))];
  const bodies = await Promise.all(chunks.map((c) => get(`/${c}`, { Cookie: cookie })));
  assert.ok(bodies.every((b) => b.status === 200));
  assert.ok(bodies.some((b) => b.body.includes('org.eclipse.elk')), `elkjs in one of ${chunks}`);
  assert.equal((await get(`/${chunks[0]}`)).status, 403, 'a chunk without the token');
  assert.equal((await get('/../package.json', { Cookie: cookie })).status, 404);
  assert.equal((await get('/%2e%2e/package.json', { Cookie: cookie })).status, 404);
  // The WebSocket: not without the cookie, not from another origin.
  assert.equal((await upgrade({})).status, 403);
  assert.equal((await upgrade({ Cookie: cookie, Origin: 'http://evil.example' })).status, 403);
  const ok = await upgrade({ Cookie: cookie, Origin: origin });
  assert.equal(ok.status, 101);
  ok.ws!.close();
});

test('ui refuses what is not loopback, and takes --port only with --stately', async () => {
  for (const [args, msg] of [
    [['--listen', '0.0.0.0:8080'], /runa ui listens on loopback only: 0\.0\.0\.0 is not a loopback address/],
    [['--listen', '10.1.2.3:80'], /loopback only/],
    [['--listen', 'nonsense'], /invalid value "nonsense" for flag -listen: HOST:PORT/],
    [['--port', '8080'], /--port is for --stately/],
  ] as const) {
    const r = await sb.run(['ui', ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, msg);
  }
});

test('ui\'s WebSocket: a bulk snapshot first, frames as containers change, a history on request, and bad frames get an error', async () => {
  const r = await get(`/?token=${token}`);
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  const { ws } = await upgrade({ Cookie: cookie, Origin: origin });
  const msgs: any[] = [];
  ws!.on('message', (d) => msgs.push(JSON.parse(String(d))));
  try {
    const snap = await until(() => msgs.find((m) => m.kind === 'snapshot'), 'the snapshot');
    assert.equal(msgs[0].kind, 'snapshot', 'the snapshot comes first');
    for (const m of ['sandbox', 'container', 'gofer', 'process']) assert.ok(snap.definitions[m]?.states, `the ${m} machine's definition`);
    assert.equal((await sb.run(['create', '-b', await sb.bundle(['sleep', '30']), 'ws1'])).code, 0);
    await until(() => msgs.some((m) => m.kind === 'frames' && m.frames.some((f: any) => f.type === '@runa.actor' && f.address === 'container:ws1' && f.parent === 'sandbox:ws1')), 'the container announced with its address');
    const frames = () => msgs.filter((m) => m.kind === 'frames').flatMap((m) => m.frames);
    // (A request's frame comes with its reply, after the actors it made are announced.)
    await until(() => frames().some((f) => f.type === '@runa.request' && f.request === 'container.create' && f.id === 'ws1' && f.ok), 'the CLI\'s request');
    ws!.send(JSON.stringify({ kind: 'history', id: 'ws1' }));
    const h = await until(() => msgs.find((m) => m.kind === 'history'), 'the history');
    const created = h.events.find((e: any) => e.kind === 'transition' && e.actor === 'container:ws1' && e.to === 'created');
    assert.ok(created, JSON.stringify(h.events));
    assert.deepEqual({ id: created.context.id, exitStatus: created.context.exitStatus, pendingSignals: created.context.pendingSignals }, { id: 'ws1', exitStatus: null, pendingSignals: [] }, 'a transition keeps its context');
    for (const bad of ['not json', JSON.stringify({ kind: 'delete', id: 'ws1' }), JSON.stringify({ kind: 'history' }), JSON.stringify({ kind: 'history', id: 'nope' })]) {
      const n = msgs.length;
      ws!.send(bad);
      const e = await until(() => msgs.slice(n).find((m) => m.kind === 'error'), `an error for ${bad}`);
      assert.ok(e.message.length > 0);
    }
    assert.match(msgs.filter((m) => m.kind === 'error').at(-1).message, /container does not exist/);
    // Nothing the page sent changed anything.
    assert.match((await sb.run(['state', 'ws1'])).stdout, /"status": "created"/);
    assert.equal((await sb.run(['delete', '-f', 'ws1'])).code, 0);
    await until(() => frames().some((f) => f.type === '@runa.gone' && f.address === 'container:ws1'), 'the container\'s end');
  } finally {
    ws!.close();
  }
});

test('the page in chromium: containers live, statecharts, exec, time travel, timeline', { skip: haveChromium ? false : NO_CHROMIUM }, async () => {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
    await page.waitForSelector('#conn[data-state="ok"]');
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');

    const bundle = await sb.bundle(['sleep', '60']);
    assert.equal((await sb.run(['create', '-b', bundle, 'web1'])).code, 0);
    const row = page.locator('.row[data-address="container:web1"]');
    await row.waitFor();
    await page.locator('.row[data-address="sandbox:web1"]').waitFor();
    await page.locator('.row[data-address="gofer:web1"]').waitFor();
    await page.locator('.row[data-address="process:web1/init"]').waitFor();
    await row.click();
    await page.waitForSelector('svg.chart[data-machine="container"]');
    const active = () => page.locator('svg.chart g.state.active').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-state')));
    const lastEdge = () => page.locator('svg.chart g.edge.last').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-edge')));
    const expectState = async (s: string, from?: string) => {
      await page.waitForSelector(`svg.chart g.state.active[data-state="container.${s}"]`);
      await page.waitForSelector(`.row[data-address="container:web1"][data-value="${s}"]`);
      assert.deepEqual(await active(), [`container.${s}`]);
      if (from) await until(async () => (await lastEdge()).includes(`container.${from}→container.${s}`), `the last transition ${from} → ${s} marked`);
    };
    await expectState('created');
    assert.equal((await sb.run(['start', 'web1'])).code, 0);
    // The machine drives itself: each operation passes through its in-between state.
    await expectState('running', 'starting');
    // The init's host PID is shown.
    const state = JSON.parse((await sb.run(['state', 'web1'])).stdout);
    await page.waitForSelector(`.row[data-address="process:web1/init"] .pid:text("pid ${state.pid}")`);
    assert.equal((await sb.run(['pause', 'web1'])).code, 0);
    await expectState('paused', 'pausing');
    assert.equal((await sb.run(['resume', 'web1'])).code, 0);
    await expectState('running', 'resuming');

    // An exec'd process appears under the container, and ends.
    const exec = sb.run(['exec', 'web1', 'sleep', '1']);
    const execRow = page.locator('.row[data-address^="process:web1/"]:not([data-address="process:web1/init"])');
    await execRow.first().waitFor({ timeout: 10_000 });
    assert.equal((await exec).code, 0);
    await page.waitForSelector('.row.ended[data-address^="process:web1/"]:not([data-address="process:web1/init"])');

    // (The README's screenshot: `RUNA_UI_SCREENSHOT=docs/inspector.png node --test dist/test/ui-page.test.js`.)
    const shot = process.env.RUNA_UI_SCREENSHOT;
    if (shot) await page.screenshot({ path: shot });
    assert.equal((await sb.run(['kill', 'web1', 'KILL'])).code, 0);
    await expectState('stopped'); // from killing, or from running: the exit may come before or after the kill's answer

    // The timeline: the CLI's requests and the actors' messages, filtered by container and kind.
    await page.selectOption('#f-container', 'web1');
    await page.selectOption('#f-kind', 'request');
    await until(async () => {
      const k = await page.locator('#timeline-body tr').evaluateAll((trs) => trs.map((t) => (t as HTMLElement).dataset.kind));
      return k.length > 0 && k.every((x) => x === 'request');
    }, 'request rows');
    const kinds = await page.locator('#timeline-body tr').evaluateAll((trs) => trs.map((t) => `${(t as HTMLElement).dataset.kind}/${(t as HTMLElement).dataset.container}/${t.children[4].textContent}`));
    assert.ok(kinds.every((k) => k.startsWith('request/web1/')), kinds.join(', '));
    for (const t of ['container.create', 'container.start', 'container.pause', 'container.resume', 'container.kill']) assert.ok(kinds.includes(`request/web1/${t}`), `${t} in ${kinds}`);
    await page.selectOption('#f-kind', 'message');
    await until(async () => {
      const k = await page.locator('#timeline-body tr').evaluateAll((trs) => trs.map((t) => (t as HTMLElement).dataset.kind));
      return k.length > 0 && k.every((x) => x === 'message');
    }, 'message rows');
    const messages = await page.locator('#timeline-body tr td:nth-child(5)').allTextContents();
    assert.ok(messages.includes('process.exited'), `the monitor's fact: ${messages}`);
    await page.fill('#f-type', 'gofer.');
    await until(async () => (await page.locator('#timeline-body tr td:nth-child(5)').allTextContents()).every((t) => t.startsWith('gofer.')), 'the type filter');

    // Time travel: scrub back to the first recorded event, then forward to where it was created.
    const scrub = page.locator('#scrub');
    await until(async () => Number(await scrub.getAttribute('max')) > 4, 'a history to scrub');
    const max = Number(await scrub.getAttribute('max'));
    const travelTo = async (i: number) => {
      await scrub.evaluate((el, v) => { (el as HTMLInputElement).value = String(v); el.dispatchEvent(new Event('input')); }, i);
      await page.waitForFunction((v) => document.getElementById('scrub-label')!.textContent!.startsWith(`${v + 1}/`), i);
    };
    const seen: string[] = [];
    let createdAt = -1;
    for (let i = 0; i < max; i++) {
      await travelTo(i);
      const v = await page.locator('#chart-wrap').getAttribute('data-value');
      if (seen.at(-1) !== v) seen.push(v!);
      if (v === 'created' && createdAt < 0) createdAt = i;
    }
    if (seen.at(-1) !== 'stopped') seen.push('stopped'); // live, at the end
    const settled = ['created', 'running', 'paused', 'stopped'];
    assert.deepEqual(seen.filter((s) => settled.includes(s)).filter((s, i, a) => s !== a[i - 1]), ['created', 'running', 'paused', 'running', 'stopped'], `the states scrubbed through: ${seen}`);
    for (const between of ['starting', 'pausing', 'resuming']) assert.ok(seen.includes(between), `${between} scrubbed through: ${seen}`);
    await travelTo(createdAt);
    assert.equal(await page.locator('body').getAttribute('data-travel'), 'on');
    assert.deepEqual(await active(), ['container.created']);
    assert.match((await lastEdge()).join(), /^container\.creating(\.attaching)?→container\.created$/, 'the transition that entry recorded');
    assert.match(await page.locator('#context').textContent() ?? '', /"exitStatus": null/, 'the context as it was (before the exit)');
    await page.click('#live');
    await page.waitForSelector('svg.chart g.state.active[data-state="container.stopped"]');
    assert.match(await page.locator('#context').textContent() ?? '', /"exitStatus": 137/);

    // Search narrows the tree.
    assert.equal((await sb.run(['create', '-b', bundle, 'other2'])).code, 0);
    await page.locator('.row[data-address="container:other2"]').waitFor();
    await page.fill('#search', 'other2');
    await until(async () => !(await page.locator('.row[data-address="container:web1"]').isVisible()), 'web1 hidden by the search');
    assert.ok(await page.locator('.row[data-address="container:other2"]').isVisible());
    await page.fill('#search', '');

    // Deleting removes it (greyed, then gone).
    assert.equal((await sb.run(['delete', 'web1'])).code, 0);
    await page.waitForSelector('.row.ended[data-address="container:web1"]');
    assert.equal((await sb.run(['delete', '-f', 'other2'])).code, 0);

    assert.deepEqual(errors, [], 'no errors in the page');
    assert.ok(requests.every((r) => r.startsWith(origin)), `nothing fetched from elsewhere: ${requests.filter((r) => !r.startsWith(origin))}`);
    await sleep(0);
  } finally {
    await browser.close();
  }
});
