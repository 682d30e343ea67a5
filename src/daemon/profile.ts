// `runa debug --profile-cpu FILE --duration D` and `--profile-heap FILE --delay D` (runsc's
// debug profiles, of the daemon here: runa's "sandbox" is the daemon's actors): the V8 CPU
// profile (.cpuprofile) or heap snapshot (.heapsnapshot) Chrome DevTools reads, taken in the
// daemon through node:inspector and written by it to FILE (too big for a bus frame).
import inspector from 'node:inspector';
import { RunaError } from '../errors.js';
import { OutputFile } from '../output-file.js';

const busy = new Set<'cpu' | 'heap'>();

function post<T = unknown>(session: inspector.Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (err, r) => (err ? reject(err) : resolve(r as T))));
}

/** Take one profile and write it to `file`; answers its size. The file is made first, so a path that cannot be written fails before anything is profiled. */
export async function profile(kind: 'cpu' | 'heap', file: string, ms: number): Promise<{ bytes: number }> {
  if (busy.has(kind)) throw new RunaError('busy', `a ${kind === 'cpu' ? 'CPU profile' : 'heap snapshot'} of the daemon is being taken already`);
  const out = OutputFile.open(file, 'profile');
  busy.add(kind);
  const session = new inspector.Session();
  session.connect();
  try {
    if (kind === 'cpu') {
      await post(session, 'Profiler.enable');
      await post(session, 'Profiler.start');
      await new Promise((r) => setTimeout(r, ms));
      const { profile: p } = await post<{ profile: unknown }>(session, 'Profiler.stop');
      out.write(JSON.stringify(p));
    } else {
      if (ms) await new Promise((r) => setTimeout(r, ms));
      session.on('HeapProfiler.addHeapSnapshotChunk', (m: { params: { chunk: string } }) => out.write(m.params.chunk));
      await post(session, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    }
    return { bytes: out.bytes };
  } catch (e) {
    out.discard();
    throw new RunaError('profile_failed', `profiling the daemon: ${(e as Error).message}`);
  } finally {
    session.disconnect();
    out.close();
    busy.delete(kind);
  }
}
