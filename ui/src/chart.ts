// A machine's statechart, laid out by ELK (elkjs: layered, with nested states laid out
// inside their parents and edges routed across levels) and drawn as SVG. A layout is made
// once per machine; the live state and the last transition are classes on its elements.
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';

/** A state node as XState's `machine.toJSON()` gives it. */
interface StateJSON {
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  initial?: { target: string[] };
  states: Record<string, StateJSON>;
  transitions?: Array<{ eventType: string; target: string[]; guard?: unknown; source: string }>;
}

export interface Layout {
  machine: string;
  svg: SVGSVGElement;
  /** state id → its group */
  nodes: Map<string, SVGGElement>;
  /** `source→target` → the edge's group and the events it carries */
  edges: Map<string, { g: SVGGElement; events: string[] }>;
  definition: StateJSON;
}

const SVG = 'http://www.w3.org/2000/svg';
const FONT = '12px system-ui, sans-serif';
/** ELK is most of the page's script: loaded when the first chart is drawn, not before the tree. */
let elk: Promise<{ layout(g: ElkNode): Promise<ElkNode> }> | null = null;
const loadElk = () => (elk ??= import('elkjs/lib/elk.bundled.js').then(({ default: ELK }) => new ELK()));
let measure: CanvasRenderingContext2D | null = null;

function textWidth(s: string): number {
  measure ??= document.createElement('canvas').getContext('2d');
  if (!measure) return s.length * 7;
  measure.font = FONT;
  return Math.ceil(measure.measureText(s).width);
}

const strip = (t: string) => (t.startsWith('#') ? t.slice(1) : t);
function guardName(g: unknown): string {
  if (!g) return '';
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && g !== null && 'type' in g) return String((g as { type: unknown }).type);
  return 'guard';
}

/** The ELK graph of a definition: states as (nested) nodes, transitions as edges between them. */
function toElk(def: StateJSON): { graph: ElkNode; edgeEvents: Map<string, string[]> } {
  const edgeEvents = new Map<string, string[]>();
  const node = (s: StateJSON): ElkNode => {
    const children = Object.values(s.states ?? {}).map(node);
    const label = s.key;
    const n: ElkNode = {
      id: s.id,
      labels: [{ text: label, width: textWidth(label) + 4, height: 16 }],
      children,
    };
    if (children.length) {
      n.layoutOptions = { 'elk.padding': '[top=28,left=12,bottom=12,right=12]', 'elk.nodeLabels.placement': 'INSIDE V_TOP H_LEFT' };
      const init = s.initial?.target?.[0];
      if (init && s.type !== 'parallel') {
        n.children!.push({ id: `${s.id}.__initial`, width: 10, height: 10 });
        edgeEvents.set(`${s.id}.__initial→${strip(init)}`, []);
      }
    } else {
      n.width = Math.max(80, textWidth(label) + 28);
      n.height = 36;
    }
    for (const t of s.transitions ?? []) {
      for (const target of t.target ?? []) {
        const key = `${strip(t.source)}→${strip(target)}`;
        const g = guardName(t.guard);
        const list = edgeEvents.get(key) ?? [];
        const name = g ? `${t.eventType} [${g}]` : t.eventType;
        if (!list.includes(name)) list.push(name);
        edgeEvents.set(key, list);
      }
    }
    return n;
  };
  const graph: ElkNode = {
    id: '__root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'SPLINES',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '2',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.json.edgeCoords': 'ROOT',
      'elk.json.shapeCoords': 'ROOT',
    },
    children: [node(def)],
  };
  const edges: ElkExtendedEdge[] = [];
  for (const [key, events] of edgeEvents) {
    const [source, target] = key.split('→');
    const text = events.join('\n');
    edges.push({
      id: key, sources: [source], targets: [target],
      labels: events.length ? [{ text, width: Math.max(...events.map(textWidth)) + 6, height: 14 * events.length }] : [],
    });
  }
  graph.edges = edges;
  return { graph, edgeEvents };
}

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, parent?: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

const cache = new Map<string, Promise<Layout>>();

/** The laid-out chart of a machine (made once per machine and kept). */
export function layout(machine: string, definition: unknown): Promise<Layout> {
  let p = cache.get(machine);
  if (!p) cache.set(machine, (p = draw(machine, definition as StateJSON)));
  return p;
}

async function draw(machine: string, def: StateJSON): Promise<Layout> {
  const { graph, edgeEvents } = toElk(def);
  const laid = await (await loadElk()).layout(graph);
  const w = (laid.width ?? 400) + 8;
  const h = (laid.height ?? 300) + 8;
  // Scaled to fit its pane (the viewBox keeps its proportions).
  const svg = el('svg', { viewBox: `-4 -4 ${w} ${h}`, class: 'chart', 'data-machine': machine });
  const defs = el('defs', {}, svg);
  const marker = el('marker', { id: `arrow-${machine}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
  el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }, marker);
  const nodes = new Map<string, SVGGElement>();
  const edges = new Map<string, { g: SVGGElement; events: string[] }>();
  const nodeLayer = el('g', { class: 'nodes' }, svg);
  const edgeLayer = el('g', { class: 'edges' }, svg);
  const walk = (n: ElkNode, depth: number) => {
    if (n.id !== '__root') {
      const initial = n.id.endsWith('.__initial');
      const g = el('g', { class: initial ? 'initial' : n.children?.length ? 'state compound' : 'state', 'data-state': n.id }, nodeLayer);
      if (initial) el('circle', { cx: (n.x ?? 0) + 5, cy: (n.y ?? 0) + 5, r: 5 }, g);
      else {
        el('rect', { x: n.x ?? 0, y: n.y ?? 0, width: n.width ?? 0, height: n.height ?? 0, rx: 8, ry: 8 }, g);
        const label = el('text', { x: (n.x ?? 0) + (n.children?.length ? 10 : (n.width ?? 0) / 2), y: (n.y ?? 0) + (n.children?.length ? 18 : (n.height ?? 0) / 2 + 4), 'text-anchor': n.children?.length ? 'start' : 'middle' }, g);
        label.textContent = n.labels?.[0]?.text ?? n.id;
        nodes.set(n.id, g);
      }
    }
    for (const c of n.children ?? []) walk(c, depth + 1);
  };
  walk(laid, 0);
  for (const e of (laid.edges ?? []) as ElkExtendedEdge[]) {
    const g = el('g', { class: 'edge', 'data-edge': e.id }, edgeLayer);
    for (const s of e.sections ?? []) {
      const pts = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint];
      let d = `M${pts[0].x},${pts[0].y}`;
      // SPLINES gives cubic Bézier control points in threes after the start.
      if (pts.length > 2 && (pts.length - 1) % 3 === 0) for (let i = 1; i < pts.length; i += 3) d += ` C${pts[i].x},${pts[i].y} ${pts[i + 1].x},${pts[i + 1].y} ${pts[i + 2].x},${pts[i + 2].y}`;
      else for (const p of pts.slice(1)) d += ` L${p.x},${p.y}`;
      el('path', { d, 'marker-end': `url(#arrow-${machine})` }, g);
    }
    for (const l of e.labels ?? []) {
      const lines = (l.text ?? '').split('\n');
      lines.forEach((line, i) => {
        const t = el('text', { x: l.x ?? 0, y: (l.y ?? 0) + 11 + i * 14, class: 'edge-label' }, g);
        t.textContent = line;
      });
    }
    edges.set(e.id, { g, events: edgeEvents.get(e.id) ?? [] });
  }
  return { machine, svg, nodes, edges, definition: def };
}

/** The ids of the state nodes a value stands for (`running`, or `{ monitor: 'linked' }`). */
export function activeIds(def: StateJSON, value: unknown): string[] {
  const out: string[] = [];
  const walk = (node: StateJSON, v: unknown) => {
    if (typeof v === 'string') {
      const s = node.states?.[v];
      if (s) out.push(s.id);
      return;
    }
    if (v && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v as Record<string, unknown>)) {
        const s = node.states?.[k];
        if (!s) continue;
        out.push(s.id);
        walk(s, inner);
      }
    }
  };
  walk(def, value);
  return out;
}

/**
 * Mark the active states and the last transition taken: by its source and targets (a live
 * microstep), or by the states before and after (a recorded one).
 */
export function highlight(l: Layout, value: unknown, last: { source: string; targets: string[]; eventType?: string } | null): void {
  const active = new Set(activeIds(l.definition, value));
  for (const [id, g] of l.nodes) g.classList.toggle('active', active.has(id));
  const wanted = (last?.targets ?? []).map((t) => [strip(last!.source), strip(t)]);
  const lastKeys = new Set(wanted.map(([s, t]) => `${s}→${t}`));
  // A recorded transition names top-level states: where the edge leaves from a state inside
  // the source (a composite state's child settles it), that edge is the one.
  const exact = [...l.edges.keys()].some((k) => lastKeys.has(k));
  for (const [key, { g }] of l.edges) {
    const [s, t] = key.split('→');
    g.classList.toggle('last', lastKeys.has(key) || (!exact && wanted.some(([ws, wt]) => t === wt && s.startsWith(`${ws}.`))));
  }
}

/** A state's id from the machine's and a top-level state's name (for recorded transitions). */
export function stateId(l: Layout, name: string | undefined): string | null {
  if (!name) return null;
  return l.definition.states?.[name]?.id ?? null;
}
