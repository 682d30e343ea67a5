import http from 'node:http';
import type { Command } from '../main.js';
import { parseFlags, usage } from '../flags.js';
import { RunaError } from '../../errors.js';
import { isStatelyFrame } from '../../actors/inspection.js';

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

const ui: Command = {
  summary: "--stately [--port 8080]: bridge the daemon's live actors to Stately's hosted inspector (its relay on 127.0.0.1:PORT; open the printed page in a browser with internet access)",
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, { stately: { kind: 'bool' }, port: { kind: 'string' } });
    if (positionals.length) throw usage('"ui" takes no arguments');
    if (!values.stately) throw new RunaError('unsupported', 'runa ui: the self-hosted page is not implemented yet; `runa ui --stately` bridges to Stately\'s inspector');
    const portArg = (values.port as string | undefined) ?? '8080';
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
    process.stdout.write(`Stately inspector bridge: http://localhost:${port} (${r.actors} live actors; Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      void client.closed.then(() => resolve());
    });
    upstream.close();
    relay.stop();
    return 0;
  },
};
export default ui;
