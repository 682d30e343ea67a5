#!/usr/bin/env node
// The machines' diagrams in docs/LIFECYCLE.md, drawn from the built machines (dist/), and the
// actors' messages in docs/ARCHITECTURE.md checked against the actors' bus schema.
//
//   npm run build && node scripts/machines-doc.mjs          rewrite the generated blocks
//   node scripts/machines-doc.mjs --check                   exit 1 if the docs are stale
//
// A generated block sits between `<!-- machines-doc:begin NAME -->` and
// `<!-- machines-doc:end NAME -->`; everything around it is written by hand.
// test/machines-doc.test.ts runs --check, so the docs cannot drift from the machines.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(root, 'dist', 'src', p)).href;

const asList = (x) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
const name = (x) => (typeof x === 'string' ? x : x?.type ?? '?');
const guardOf = (t) => (t.guard ? ` [${name(t.guard)}]` : '');
const actionsOf = (t) => {
  const a = asList(t.actions).map((x) => (x?.type === 'xstate.spawnChild' ? `spawn ${x.src}` : typeof x === 'function' ? 'action' : name(x)));
  return a.length ? ` / ${a.join(', ')}` : '';
};
const transitions = (x) => asList(x).map((t) => (typeof t === 'string' ? { target: t } : t));
const targetOf = (from, t) => {
  if (t.target === undefined) return from; // targetless: stays
  const target = asList(t.target)[0];
  // `#machine.state` (from a nested state) and `.child` name a state by its own name: every name is unique.
  return target.startsWith('#') ? target.slice(target.indexOf('.') + 1) : target.startsWith('.') ? target.slice(1) : target;
};

/** A state's transitions (and its children's, inside a composite state), as diagram lines. */
function stateLines(state, node, indent) {
  const lines = [];
  if (node.states) {
    lines.push(`${indent}state ${state} {`, `${indent}  [*] --> ${node.initial}`);
    for (const [child, sub] of Object.entries(node.states)) lines.push(...stateLines(child, sub, `${indent}  `));
    lines.push(`${indent}}`);
  }
  for (const [event, ts] of Object.entries(node.on ?? {})) {
    for (const t of transitions(ts)) lines.push(`${indent}${state} --> ${targetOf(state, t)} : ${event}${guardOf(t)}${actionsOf(t)}`);
  }
  for (const inv of asList(node.invoke)) {
    for (const [k, label] of [['onDone', 'done'], ['onError', 'error']]) {
      for (const t of transitions(inv[k])) lines.push(`${indent}${state} --> ${targetOf(state, t)} : ${label}(${inv.src})${guardOf(t)}${actionsOf(t)}`);
    }
  }
  for (const [delay, ts] of Object.entries(node.after ?? {})) {
    for (const t of transitions(ts)) lines.push(`${indent}${state} --> ${targetOf(state, t)} : after(${delay})${guardOf(t)}${actionsOf(t)}`);
  }
  for (const t of transitions(node.always)) lines.push(`${indent}${state} --> ${targetOf(state, t)} : always${guardOf(t)}`);
  if (node.type === 'final') lines.push(`${indent}${state} --> [*]`);
  const invoked = asList(node.invoke).map((i) => i.src);
  if (invoked.length) lines.push(`${indent}note right of ${state} : invokes ${invoked.join(', ')}`);
  return lines;
}

/** One machine as a Mermaid stateDiagram, from its config. */
export function machineDiagram(machine) {
  const c = machine.config;
  // A parallel machine's regions run side by side: each is drawn as a composite state.
  const lines = ['```mermaid', 'stateDiagram-v2', ...(c.type === 'parallel' ? [] : [`  [*] --> ${c.initial}`])];
  for (const [state, node] of Object.entries(c.states ?? {})) lines.push(...stateLines(state, node, '  '));
  // Transitions of the whole machine: taken in any state.
  const any = Object.entries(c.on ?? {}).flatMap(([event, ts]) => transitions(ts).map((t) => {
    const target = t.target === undefined ? '' : ` → ${targetOf('', t)}`;
    return `${event}${guardOf(t)}${target}${actionsOf(t)}`;
  }));
  if (any.length) lines.push(`  note left of ${c.initial ?? Object.keys(c.states ?? {})[0]} : in any state: ${any.join('; ')}`);
  lines.push('```');
  return lines.join('\n');
}

function replaceBlock(text, block, body, file) {
  const begin = `<!-- machines-doc:begin ${block} -->`;
  const end = `<!-- machines-doc:end ${block} -->`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${file}: no block ${block}`);
  return `${text.slice(0, i + begin.length)}\n${body}\n${text.slice(j)}`;
}

export async function generate() {
  const m = await import(dist('machines/index.js'));
  const lifecycle = join(root, 'docs', 'LIFECYCLE.md');
  let text = readFileSync(lifecycle, 'utf8');
  for (const [block, machine] of [['container', m.containerMachine], ['sandbox', m.sandboxMachine], ['process', m.processMachine], ['gofer', m.goferMachine], ['create', m.creationMachine]]) {
    text = replaceBlock(text, block, machineDiagram(machine), lifecycle);
  }
  return { [lifecycle]: text };
}

/** Every message the actors' bus takes, from its schema. */
export async function actorMessageTypes() {
  const { ActorMessage } = await import(dist('actors/actor-bus.js'));
  return ActorMessage.options.map((o) => o.shape.type.value);
}

/** The actors' messages that docs/ARCHITECTURE.md's picture does not name. */
export async function unnamedMessages() {
  const text = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const begin = text.indexOf('<!-- actor-messages:begin -->');
  const end = text.indexOf('<!-- actor-messages:end -->');
  const picture = begin >= 0 && end > begin ? text.slice(begin, end) : '';
  return (await actorMessageTypes()).filter((t) => !new RegExp(`(^|[^\\w.])${t.replace(/\./g, '\\.')}([^\\w.]|$)`, 'm').test(picture));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = await generate();
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of Object.entries(files)) {
    if (readFileSync(file, 'utf8') === text) continue;
    if (check) { console.error(`${file}: stale, run: npm run build && node scripts/machines-doc.mjs`); stale++; } else { writeFileSync(file, text); console.log(`wrote ${file}`); }
  }
  const missing = await unnamedMessages();
  if (missing.length) { console.error(`docs/ARCHITECTURE.md: the actors' picture does not name ${missing.join(', ')}`); stale++; }
  process.exitCode = stale ? 1 : 0;
}
