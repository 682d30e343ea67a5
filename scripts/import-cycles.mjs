#!/usr/bin/env node
// Import cycles and upward imports in src/, read from the TypeScript sources.
//
//   node scripts/import-cycles.mjs        prints every cycle and upward import; exit 1 if any
//   node scripts/import-cycles.mjs --json the same as JSON
//
// Every `import`/`export … from` counts, `import type` too: a type-only import is erased at
// run time, but it still says which module depends on which, and a cycle through one is a
// cycle in the design. Dynamic `import()` counts as well: it hides a cycle from the loader,
// not from the reader. test/imports.test.ts runs this and asserts that there are none.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src');

// The layers, lowest first. A module may import its own layer and the ones below it; a path
// not listed is a leaf at layer 0 (src/errors.ts, src/paths.ts, …). The bus (transport and the
// wire's messages) and the machines (pure) know nothing of containers; the OCI, seccomp,
// cgroup, hook and plan modules know nothing of actors; the actors nothing of the command line;
// the CLI's commands nothing of the daemon that runs some of them; the entry points wire it up.
export const LAYERS = [
  ['errors.ts', 'faults.ts', 'paths.ts', 'proc.ts', 'unix-path.ts', 'version.ts', 'code-cache.ts', 'rootless.ts', 'state.ts'],
  ['bus/', 'machines/'],
  ['seccomp/', 'cgroups/', 'nsinit/', 'hooks/', 'oci/'],
  ['actors/', 'ui/'],
  ['cli/'],
  ['daemon/'],
  ['cli/main.ts', 'daemon/main.ts'],
];

export function layerOf(file) {
  for (let i = LAYERS.length - 1; i >= 0; i--) {
    if (LAYERS[i].some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p))) return i;
  }
  return 0;
}

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every module each file imports: { from, to, typeOnly, dynamic }, paths relative to src/. */
export function importEdges(dir = srcDir) {
  const edges = [];
  for (const abs of walk(dir)) {
    const from = relative(dir, abs);
    const sf = ts.createSourceFile(abs, readFileSync(abs, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const add = (spec, typeOnly, dynamic) => {
      if (!spec.startsWith('.')) return;
      const target = resolve(dirname(abs), spec).replace(/\.js$/, '.ts');
      edges.push({ from, to: relative(dir, target), typeOnly, dynamic });
    };
    const visit = (node) => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const c = node.importClause;
        const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings)
          && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
        add(node.moduleSpecifier.text, typeOnly, false);
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, node.isTypeOnly, false);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword
        && node.arguments.length === 1 && ts.isStringLiteralLike(node.arguments[0])) {
        add(node.arguments[0].text, false, true);
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
        add(node.argument.literal.text, true, false);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return edges;
}

/** Strongly connected components of more than one file (or a file importing itself), Tarjan. */
export function cycles(edges) {
  const graph = new Map();
  for (const e of edges) {
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    if (!graph.has(e.to)) graph.set(e.to, new Set());
    graph.get(e.from).add(e.to);
  }
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], onStack = new Set(), sccs = [];
  const strong = (v) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v)) {
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1 || graph.get(v).has(v)) sccs.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  // For each component, one shortest cycle through its first file, to show the way round.
  return sccs.map((files) => {
    const inScc = new Set(files);
    const start = files[0];
    const prev = new Map([[start, null]]);
    const queue = [start];
    let path = null;
    while (queue.length && !path) {
      const v = queue.shift();
      for (const w of [...graph.get(v)].sort()) {
        if (!inScc.has(w)) continue;
        if (w === start) { path = [start]; for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u); path.push(start); break; }
        if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
      }
    }
    return { files, example: path };
  });
}

/** Imports from a lower layer into a higher one. */
export function upwardImports(edges) {
  return edges.filter((e) => layerOf(e.to) > layerOf(e.from));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const edges = importEdges();
  const found = cycles(edges);
  const upward = upwardImports(edges);
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ cycles: found, upward }, null, 2));
  } else {
    for (const c of found) {
      console.log(`cycle of ${c.files.length} files: ${c.example.join(' → ')}`);
      for (const f of c.files) console.log(`  ${f}`);
    }
    for (const e of upward) {
      console.log(`upward: ${e.from} (layer ${layerOf(e.from)}) → ${e.to} (layer ${layerOf(e.to)})${e.typeOnly ? ' [type only]' : ''}${e.dynamic ? ' [dynamic]' : ''}`);
    }
    if (!found.length && !upward.length) console.log('no import cycles, no upward imports');
  }
  process.exitCode = found.length || upward.length ? 1 : 0;
}
