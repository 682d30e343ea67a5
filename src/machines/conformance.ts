import type { AnyStateMachine } from 'xstate';
import { containerMachine } from './container.js';
import { creationMachine } from './create.js';
import { goferMachine } from './gofer.js';
import { processMachine } from './process.js';
import { sandboxMachine } from './sandbox.js';

/**
 * Trace conformance: a container's recorded history (`runa debug --events`, the daemon's
 * History) replayed against the machines. Each recorded transition names its actor, the event
 * that caused it (`state` where the recorder did not see one) and the states before and after;
 * it conforms when the machine has a transition on that event from a state inside `from` to a
 * state inside `to`, and when each actor's steps follow on (a step starts where the last one of
 * that actor ended). Guards are not evaluated: the history keeps the event's type, not its
 * payload. What the model forbids is reported with the step.
 */

export interface RecordedStep {
  actor: string;
  kind: string;
  type: string;
  from?: string;
  to?: string;
}

export interface Nonconformance {
  /** the step's index in the history */
  index: number;
  step: RecordedStep;
  why: string;
}

/** Which machine an actor's steps are of, and which region its state names are read in. */
const MACHINES: Array<{ prefix: string; machine: AnyStateMachine; region: string }> = [
  { prefix: 'container:', machine: containerMachine, region: 'container' },
  { prefix: 'process:', machine: processMachine, region: 'process.life' },
  { prefix: 'gofer:', machine: goferMachine, region: 'gofer' },
  { prefix: 'sandbox:', machine: sandboxMachine, region: 'sandbox' },
  { prefix: 'create:', machine: creationMachine, region: 'create' },
];

interface Edge { from: string; event: string; to: string }
const edgeCache = new Map<AnyStateMachine, Edge[]>();

/** Every transition of a machine, by the names of the states under `region` it leaves and enters. */
function edges(machine: AnyStateMachine, region: string): Edge[] {
  const key = machine;
  const cached = edgeCache.get(key);
  if (cached) return cached;
  const depth = region.split('.').length;
  const nameIn = (id: string): string | null => {
    const parts = id.split('.');
    return id.startsWith(`${region}.`) && parts.length > depth ? parts[depth] : null;
  };
  const out: Edge[] = [];
  type Node = { id: string; transitions: Map<string, Array<{ target?: Array<{ id: string }> }>>; states: Record<string, Node> };
  const walk = (node: Node) => {
    const from = nameIn(node.id);
    for (const [event, ts] of node.transitions) {
      for (const t of ts) {
        for (const target of t.target ?? []) {
          const to = nameIn(target.id);
          if (from !== null && to !== null && from !== to) out.push({ from, event, to });
        }
      }
    }
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root as unknown as Node);
  edgeCache.set(key, out);
  return out;
}

/** The steps of a history the machines forbid (none: it conforms). */
export function checkHistory(history: RecordedStep[]): Nonconformance[] {
  const bad: Nonconformance[] = [];
  const last = new Map<string, string>();
  history.forEach((step, index) => {
    if (step.kind !== 'transition' || step.from === undefined || step.to === undefined) return;
    const m = MACHINES.find((x) => step.actor.startsWith(x.prefix));
    if (!m) return;
    const where = last.get(step.actor);
    if (where !== undefined && where !== step.from) {
      bad.push({ index, step, why: `${step.actor} was in ${where}, not ${step.from}: a step is missing` });
    }
    last.set(step.actor, step.to);
    if (step.from === step.to) return;
    const ok = edges(m.machine, m.region).some((e) => e.from === step.from && e.to === step.to && (step.type === 'state' || e.event === step.type));
    if (!ok) bad.push({ index, step, why: `the ${m.machine.id} machine has no transition ${step.from} → ${step.to}${step.type === 'state' ? '' : ` on ${step.type}`}` });
  });
  return bad;
}
