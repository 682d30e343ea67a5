// The file a `debug` output is written to by the daemon (`--trace`'s trace, `--profile-cpu`'s
// profile, `--profile-heap`'s snapshot: too big for a bus frame). It is made first, so that a
// path that cannot be written fails before anything is recorded; then written in pieces, and
// closed; and removed again if what was to go in it could not be taken.
import fs from 'node:fs';
import { RunaError } from './errors.js';

export class OutputFile {
  /** Bytes written so far. */
  bytes = 0;
  private closed = false;

  private constructor(readonly file: string, private readonly fd: number) {}

  /** Make (or truncate) `file`, 0644; `what` names it in the error: "writing trace \"FILE\": ENOENT: …". */
  static open(file: string, what: string): OutputFile {
    try {
      return new OutputFile(file, fs.openSync(file, 'w', 0o644));
    } catch (e) {
      throw new RunaError('invalid_argument', `writing ${what} ${JSON.stringify(file)}: ${(e as Error).message}`);
    }
  }

  write(text: string): void {
    fs.writeSync(this.fd, text);
    this.bytes += Buffer.byteLength(text);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  /** Close it and remove it: nothing was taken to go in it. */
  discard(): void {
    this.close();
    try { fs.unlinkSync(this.file); } catch { /* gone */ }
  }
}
