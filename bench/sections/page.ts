// The bench's "page" section. The inspector page (`runa ui`) in a headless browser: first render, frames, search.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { cliEntry } from '../../src/paths.js';
import { pool, sleep } from '../util.js';
import { rows, rootA, nextId, runa, log, Failure, must, connect, closeContext, bundleTrue, bundleSleep } from '../harness.js';

/**
 * The inspector page (`runa ui`) in Debian's chromium with 125 idle containers (625 live
 * actors): how long the page takes to show them after connecting, what each render costs
 * while 125 more containers' frames arrive, and how fast the search answers. Measured in
 * the page (performance.now around its render); runa only.
 */
/** Live actors per running container: its sandbox, container, gofer and init (effects are actors only while invoked). */
const PER = 4;

export async function phasePage(): Promise<void> {
  const CHROMIUM = '/usr/bin/chromium';
  if (!fs.existsSync(CHROMIUM)) { log('page: skipped: install chromium (apt-get install chromium)'); return; }
  const { chromium } = await import('playwright-core');
  const n = 125;
  log(`page: ${n} containers (${n * PER} actors) in the inspector`);
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const ui = spawn(process.execPath, [cliEntry, '--root', rootA, 'ui', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  ui.stdout!.on('data', (d) => { out += d; });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const { ctx, client } = await connect(rootA);
  const ids = Array.from({ length: n }, () => nextId('p'));
  const more = Array.from({ length: n }, () => nextId('q'));
  try {
    for (let i = 0; i < 200 && !/http:\S+/.test(out); i++) await sleep(50);
    const url = /runa ui: (http:\S+)/.exec(out)?.[1];
    if (!url) throw new Failure(`runa ui did not start: ${out}`);
    await pool(ids, 4, async (id) => must(await runa(['run', '-d', '-b', bundleSleep, id]), 'runa run -d'));
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const live = async () => Number(((await page.locator('#count').textContent()) ?? '0').split(' ')[0]);
    const t0 = performance.now();
    await page.goto(url);
    await page.waitForFunction((want) => Number(document.getElementById('count')!.textContent!.split(' ')[0]) >= want, n * PER, { timeout: 60_000 });
    const firstMs = performance.now() - t0;
    // A burst: 125 more containers created and started while the page follows.
    await page.evaluate(() => Object.assign((window as any).runaStats, { renders: 0, totalMs: 0, maxMs: 0 }));
    await pool(more, 4, async (id) => must(await runa(['run', '-d', '-b', bundleSleep, id]), 'runa run -d'));
    await page.waitForFunction((want) => Number(document.getElementById('count')!.textContent!.split(' ')[0]) >= want, n * 2 * PER, { timeout: 60_000 });
    const burst = await page.evaluate(() => ({ ...(window as any).runaStats })) as { renders: number; totalMs: number; maxMs: number };
    const actors = await live();
    const t1 = performance.now();
    await page.fill('#search', more[7]);
    await page.waitForFunction(() => document.querySelectorAll('#tree .row:not([hidden])').length <= 6);
    const searchMs = performance.now() - t1;
    rows.push({ section: 'page', name: `inspector page: first full render of ${n * PER} live actors after connecting`, unit: 'ms', runa: { value: firstMs }, runc: { text: '—' }, note: 'page load + snapshot + tree, measured from navigation to the count shown' });
    rows.push({
      section: 'page', name: `inspector page: render per frame while ${n} more containers start (${actors} actors at the end)`, unit: 'ms', runa: { value: burst.totalMs / Math.max(1, burst.renders) }, runc: { text: '—' },
      note: `mean over ${burst.renders} renders (tree + chart + timeline, batched per animation frame); max ${burst.maxMs.toFixed(1)} ms`,
    });
    rows.push({ section: 'page', name: `inspector page: search among ${actors} actors`, unit: 'ms', runa: { value: searchMs }, runc: { text: '—' }, note: 'typing an id until only its rows are shown (includes the playwright round trip)' });
  } finally {
    await browser.close();
    ui.kill('SIGINT');
    await pool([...ids, ...more], 16, (id) => client.request({ type: 'container.delete', id, force: true }).catch(() => undefined));
    closeContext(ctx);
  }
}
