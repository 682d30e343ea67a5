// The module graph of src/ has no cycles and no upward imports (scripts/import-cycles.mjs says
// which layers there are, and how an import is counted: `import type` and `import()` too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Found {
  cycles: Array<{ files: string[]; example: string[] }>;
  upward: Array<{ from: string; to: string; typeOnly: boolean; dynamic: boolean }>;
}

function check(): Found {
  // Exits 1 when it finds any: the JSON says what.
  let out: string;
  try {
    out = execFileSync(process.execPath, [path.join(root, 'scripts', 'import-cycles.mjs'), '--json'], { encoding: 'utf8' });
  } catch (e) {
    out = (e as { stdout: string }).stdout;
  }
  return JSON.parse(out) as Found;
}

test('src/ has no import cycles', () => {
  const { cycles } = check();
  assert.deepEqual(cycles.map((c) => c.example.join(' → ')), []);
});

test('no module imports one of a higher layer (the bus an OCI module, an actor the CLI, …)', () => {
  const { upward } = check();
  assert.deepEqual(upward.map((e) => `${e.from} → ${e.to}`), []);
});
