// docs/LIFECYCLE.md's diagrams are the machines' own (scripts/machines-doc.mjs draws them from
// the built machines), and docs/ARCHITECTURE.md's picture of the actors names every message
// of the actors' bus: the docs cannot drift from the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('docs/LIFECYCLE.md and docs/ARCHITECTURE.md match the machines and the actors\' messages', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'machines-doc.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});
