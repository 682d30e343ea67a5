// `runa debug --profile-cpu FILE --duration D` and `--profile-heap FILE --delay D` (runsc's
// debug profiles, of the daemon here: runa's "sandbox" is the daemon's actors): the V8 CPU
// profile (.cpuprofile) or heap snapshot (.heapsnapshot) Chrome DevTools reads, taken in the
// daemon through node:inspector and written by it to FILE (too big for a bus frame).
import fs from 'node:fs';
import inspector from 'node:inspector';
import { RunaError } from '../errors.js';

const busy = new Set<'cpu' | 'heap'>();

function post<T = unknown>(session: inspector.Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (err, r) => (err ? reject(err) : resolve(r as T))));
}

/** Take one profile and write it to `file`; answers its size. The file is made first, so a path that cannot be written fails before anything is profiled. */
export async function profile(kind: 'cpu' | 'heap', file: string, ms: number): Promise<{ bytes: number }> {
  if (busy.has(kind)) throw new RunaError('busy', `a ${kind === 'cpu' ? 'CPU profile' : 'heap snapshot'} of the daemon is being taken already`);
  let fd: number;
  try { fd = fs.openSync(file, 'w', 0o644); } catch (e) { throw new RunaError('invalid_argument', `writing profile ${JSON.stringify(file)}: ${(e as Error).message}`); }
  busy.add(kind);
  const session = new inspector.Session();
  session.connect();
  let bytes = 0;
  try {
    if (kind === 'cpu') {
      await post(session, 'Profiler.enable');
      await post(session, 'Profiler.start');
      await new Promise((r) => setTimeout(r, ms));
      const { profile: p } = await post<{ profile: unknown }>(session, 'Profiler.stop');
      const text = JSON.stringify(p);
      fs.writeSync(fd, text);
      bytes = Buffer.byteLength(text);
    } else {
      if (ms) await new Promise((r) => setTimeout(r, ms));
      session.on('HeapProfiler.addHeapSnapshotChunk', (m: { params: { chunk: string } }) => {
        fs.writeSync(fd, m.params.chunk);
        bytes += Buffer.byteLength(m.params.chunk);
      });
      await post(session, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    }
    return { bytes };
  } catch (e) {
    try { fs.unlinkSync(file); } catch { /* gone */ }
    throw new RunaError('profile_failed', `profiling the daemon: ${(e as Error).message}`);
  } finally {
    session.disconnect();
    fs.closeSync(fd);
    busy.delete(kind);
  }
}
