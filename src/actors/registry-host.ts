import type { ActorBus } from './actor-bus.js';
import type { ContainerActor, ContainerActorOptions } from './container-actor.js';
import type { ContainerRecord } from './container-record.js';
import type { GoferActor } from './gofer-actor.js';
import type { History } from './history.js';
import type { Watch } from './inspection.js';
import type { SandboxActor } from './sandbox-actor.js';

/** What creating and adopting containers need of the registry. */
export interface RegistryHost {
  readonly root: string;
  /** the actors' own bus */
  readonly actors: ActorBus;
  readonly watch: Watch;
  readonly containers: Map<string, ContainerActor>;
  readonly sandboxes: Map<string, SandboxActor>;
  /** gofers of containers being created (the container actor comes once the gofer has prepared) */
  readonly creating: Map<string, { gofer: GoferActor; history: History }>;
  get(id: string): ContainerActor;
  add(record: ContainerRecord, extra?: Partial<ContainerActorOptions>): ContainerActor;
  newSandbox(id: string, opts?: { members?: string[]; rootPresent?: boolean }): SandboxActor;
}
