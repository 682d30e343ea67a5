// src/output-file.ts: the file `debug --trace` and `--profile-cpu/--profile-heap` are written to.
// Made 0644 (truncated if there) before anything is taken, a path that cannot be written
// refused with what and where, written in pieces and counted, and removed by discard.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OutputFile } from '../src/output-file.js';
import { RunaError } from '../src/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-output-file-'));
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.equal(fs.existsSync(tmp), false);
});

test('open makes the file 0644 (truncating one there); write counts bytes; close leaves what was written', () => {
  const file = path.join(tmp, 'a.json');
  fs.writeFileSync(file, 'old contents, longer than the new');
  const out = OutputFile.open(file, 'trace');
  assert.equal(fs.readFileSync(file, 'utf8'), '');
  assert.equal(fs.statSync(file).mode & 0o777, 0o644 & ~process.umask());
  out.write('{"µ":');
  out.write('1}\n');
  out.close();
  out.close();
  assert.equal(out.bytes, Buffer.byteLength('{"µ":1}\n'));
  assert.equal(fs.readFileSync(file, 'utf8'), '{"µ":1}\n');
});

test('a path that cannot be written: invalid_argument, naming what and where', () => {
  const file = path.join(tmp, 'no', 'dir', 'x.cpuprofile');
  assert.throws(() => OutputFile.open(file, 'profile'), (e: unknown) => {
    assert.ok(e instanceof RunaError);
    assert.equal(e.code, 'invalid_argument');
    assert.match(e.message, /^writing profile ".*\/no\/dir\/x\.cpuprofile": ENOENT/);
    return true;
  });
});

test('discard closes and removes it (also after a close, and when already gone)', () => {
  const file = path.join(tmp, 'b.heapsnapshot');
  const out = OutputFile.open(file, 'profile');
  out.write('partial');
  out.discard();
  assert.equal(fs.existsSync(file), false);
  out.discard();
  const closed = OutputFile.open(file, 'trace');
  closed.close();
  closed.discard();
  assert.equal(fs.existsSync(file), false);
});
