// The bench's "callers" section. Callers' own flows (containerd's shim, podman) through runa and runc.
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { rows, opts, TAG, log, Failure, noRunc } from '../harness.js';
import { throughput, tputCell } from './throughput.js';

/**
 * What users feel: containers started and removed per second through the real callers, 4
 * clients each, runa and runc alternately on the same caller: a private containerd
 * (`ctr run --rm --runc-binary`) and a private podman (`podman --runtime … run --rm`), on an
 * image built from busybox-static. Skipped, saying so, where a caller is not installed.
 */
export function callerOk(r: { code: number | null; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Failure(`${what}: exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
}

export async function phaseCallers(): Promise<void> {
  const { Containerd, Podman } = await import('../../test/helpers/callers.js');
  const { IMAGE, busyboxMissing, writeBusyboxImage } = await import('../../test/helpers/oci-image.js');
  const clients = opts.clients;
  opts.clients = 4;
  const binary = path.join(packageRoot, 'native', 'runa');
  const both = async (what: string, one: (runtime: string, id: string) => Promise<{ code: number | null; stderr: string }>) => {
    let n = 0;
    const round = (runtime: string, tag: string) => async () => {
      const r = await one(runtime, `${TAG}${tag}${++n}`);
      if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.slice(0, 200)}`);
    };
    const a = await throughput(`${what} with runa`, round(binary, 'a'));
    const c = opts.runc ? await throughput(`${what} with runc`, round(opts.runc, 'c')) : null;
    rows.push({
      section: 'callers', name: `${what}, /bin/true, 4 clients`, unit: '/s', higherIsBetter: true,
      runa: tputCell(a), runc: c ? tputCell(c) : noRunc,
      note: `containers started and removed per second; median latency under load: runa ${a.latency.median.toFixed(0)} ms` + (c ? `, runc ${c.latency.median.toFixed(0)} ms` : ''),
    });
  };
  try {
    const missing = busyboxMissing();
    const ctrMissing = missing ?? Containerd.missing();
    if (ctrMissing) log(`callers: containerd skipped: ${ctrMissing}`);
    else {
      const c = new Containerd();
      try {
        await c.start();
        const image = path.join(c.dir, 'busybox.tar');
        writeBusyboxImage(image);
        callerOk(await c.ctr(['images', 'import', image], { timeoutMs: 60_000 }), 'ctr images import');
        const runcRoot = path.join(c.dir, 'rt-runc');
        await both('containerd: `ctr run --rm`', (runtime, id) =>
          c.ctr(['run', '--rm', ...c.runFlags(runtime, runtime === binary ? path.dirname(c.runtimeRoot) : runcRoot), IMAGE, id, '/bin/true'], { timeoutMs: 60_000 }));
      } finally {
        const left = await c.teardown();
        const n = Object.values(left).flat().length;
        if (n) log(`callers: containerd left ${n} thing(s): ${JSON.stringify(left)}`);
      }
    }
    const podMissing = missing ?? Podman.missing();
    if (podMissing) log(`callers: podman skipped: ${podMissing}`);
    else {
      const p = new Podman();
      try {
        const image = path.join(p.dir, 'busybox.tar');
        writeBusyboxImage(image);
        callerOk(await p.podman(['load', '-i', image], { timeoutMs: 60_000 }), 'podman load');
        await both('podman: `podman run --rm`', (runtime) =>
          p.podman(['run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', IMAGE, '/bin/true'], { runtime, timeoutMs: 60_000 }));
      } finally {
        const left = await p.teardown();
        const n = Object.values(left).flat().length;
        if (n) log(`callers: podman left ${n} thing(s): ${JSON.stringify(left)}`);
      }
    }
  } finally {
    opts.clients = clients;
  }
}
