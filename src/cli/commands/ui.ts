import http from 'node:http';
import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { isStatelyFrame } from '../../actors/inspection.js';
import type { Context } from '../context.js';
import { socketPath } from '../../paths.js';
import { parseListen, startUi } from '../../ui/server.js';

/**
 * Start @statelyai/inspect's relay with its HTTP server bound to loopback only: the library
 * listens on every interface and takes no host, so its one `listen` call is given one.
 */
async function startRelay(port: number): Promise<{ stop(): void }> {
  const { createInspectorServer } = await import('@statelyai/inspect/server');
  const listen = http.Server.prototype.listen;
  let failed: Error | null = null;
  let bound!: () => void;
  const ready = new Promise<void>((resolve) => { bound = resolve; });
  http.Server.prototype.listen = function (this: http.Server, ...args: unknown[]) {
    this.once('error', (e) => { failed = e; bound(); });
    this.once('listening', () => bound());
    const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
    return (listen as (port: number, host: string, cb?: () => void) => http.Server).call(this, args[0] as number, '127.0.0.1', cb);
  } as typeof listen;
  let server: { stop(): void };
  try {
    server = createInspectorServer({ port, autoOpen: false });
  } finally {
    http.Server.prototype.listen = listen;
  }
  await ready;
  if (failed) throw new RunaError('ui_failed', `runa ui: cannot listen on 127.0.0.1:${port}: ${(failed as NodeJS.ErrnoException).code ?? (failed as Error).message}`);
  return server;
}

/** Run until Ctrl-C, SIGTERM, or (for the bridge) the daemon's going. */
function untilStopped(closed?: Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
    void closed?.then(() => resolve());
  });
}

async function stately(ctx: Context, portArg: string): Promise<number> {
  const port = Number(portArg);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage(`invalid value "${portArg}" for flag -port: a TCP port`);
  const relay = await startRelay(port);
  const { default: WebSocket } = await import('ws');
  const upstream = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => { upstream.once('open', () => resolve()); upstream.once('error', reject); });
  const client = await ctx.connect();
  // Every frame of the daemon's inspect topic goes to the relay, which hands it to the bridge page.
  // (runa's own microstep and action frames are not Stately's: they stay behind.)
  client.on('inspect', (frame) => { if (isStatelyFrame(frame) && upstream.readyState === WebSocket.OPEN) upstream.send(JSON.stringify(frame)); });
  const r = await client.request<{ actors: number }>({ type: 'inspect.subscribe' });
  ctx.out(`Stately inspector bridge: http://localhost:${port} (${r.actors} live actors; Ctrl-C to stop)\n`);
  await untilStopped(client.closed);
  upstream.close();
  relay.stop();
  return 0;
}

const ui: Command = {
  summary: 'the inspector: every actor live in a browser',
  description: 'Serves a page on loopback (open the printed address, which carries its token) that shows\nevery actor live, its statechart, the events between actors, and each container\'s history\nto scrub back through. --stately bridges to Stately\'s hosted inspector instead.',
  flags: {
    listen: { kind: 'string', usage: 'where the page listens (loopback only)', value: 'HOST:PORT', default: '127.0.0.1:0, a free port' },
    stately: { kind: 'bool', usage: 'bridge to Stately\'s hosted inspector through @statelyai/inspect\'s relay instead' },
    port: { kind: 'string', usage: 'with --stately: the relay\'s port on 127.0.0.1', default: '8080' },
  },
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, this.flags);
    if (positionals.length) throw usage('"ui" takes no arguments');
    if (values.stately) {
      if (values.listen !== undefined) throw usage('--listen is for the page; the Stately bridge takes --port');
      return stately(ctx, (values.port as string | undefined) ?? '8080');
    }
    if (values.port !== undefined) throw usage('--port is for --stately; the page takes --listen 127.0.0.1:PORT');
    const { host, port } = parseListen((values.listen as string | undefined) ?? '127.0.0.1:0');
    const { BusClient } = await import('../../bus/client.js');
    const sock = socketPath(ctx.root);
    const page = await startUi({ host, port, connect: () => ctx.connect(), reconnect: () => BusClient.connect(sock) });
    ctx.out(`runa ui: ${page.url}\n(loopback only; the address carries this run's token. Ctrl-C to stop)\n`);
    await untilStopped();
    await page.close();
    return 0;
  },
};
export default ui;
