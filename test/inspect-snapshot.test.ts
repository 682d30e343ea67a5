// inspect.snapshot's machine definitions (src/actors/registry.ts): made once per machine and
// shared by every reply, not rebuilt for each snapshot (a client asking for snapshots in a loop
// made the daemon's largest garbage of them: test/fairness.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../src/bus/bus.js';
import { Registry } from '../src/actors/registry.js';
import { containerMachine, creationMachine, goferMachine, processMachine, sandboxMachine } from '../src/machines/index.js';

test('inspect.snapshot: each machine\'s definition is made once, as the JSON toJSON() gives, frozen, and the same object in every reply', async () => {
  const bus = new Bus();
  new Registry('/nonexistent', bus, () => undefined);
  const a = (await bus.request({ type: 'inspect.snapshot' })) as { definitions: Record<string, any> };
  const b = (await bus.request({ type: 'inspect.snapshot' })) as { definitions: Record<string, any> };
  const machines = [sandboxMachine, containerMachine, goferMachine, processMachine, creationMachine];
  assert.deepEqual(Object.keys(a.definitions).sort(), machines.map((m) => m.id).sort());
  for (const m of machines) {
    assert.equal(b.definitions[m.id], a.definitions[m.id], `${m.id}: not made again`);
    assert.deepEqual(a.definitions[m.id], JSON.parse(JSON.stringify(m.toJSON())), `${m.id}: what toJSON() gives`);
    assert.ok(Object.isFrozen(a.definitions[m.id]), `${m.id}: frozen`);
  }
  const running = a.definitions.container.states.running;
  assert.ok(Object.isFrozen(running) && Object.isFrozen(a.definitions.container.states), 'frozen all the way down');
  assert.throws(() => { running.id = 'changed'; }, TypeError, 'a reply cannot change what the next one sends');
});
