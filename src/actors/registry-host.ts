import type { AnyActor } from 'xstate';
import type { ActorBus } from './actor-bus.js';
import type { ContainerActor, ContainerActorOptions } from './container-actor.js';
import type { ContainerRecord } from './container-record.js';
import type { GoferActor } from './gofer-actor.js';
import type { History } from './history.js';
import type { Watch } from './inspection.js';
import type { SandboxActor } from './sandbox-actor.js';

/** A create in progress, as the registry sees it (src/actors/create.ts, CreateActor). */
export interface Creating {
  readonly actor: AnyActor;
  readonly address: string;
  readonly history: History;
  /** its gofer, once it has claimed the state dir */
  readonly gofer: GoferActor | null;
}

/** What creating and adopting containers need of the registry. */
export interface RegistryHost {
  readonly root: string;
  /** the actors' own bus */
  readonly actors: ActorBus;
  readonly watch: Watch;
  readonly containers: Map<string, ContainerActor>;
  readonly sandboxes: Map<string, SandboxActor>;
  /** creates in progress, each an actor of its own (src/actors/create.ts), until the Container actor takes over */
  readonly creating: Map<string, Creating>;
  get(id: string): ContainerActor;
  add(record: ContainerRecord, extra?: Partial<ContainerActorOptions>): ContainerActor;
  newSandbox(id: string, opts?: { members?: string[]; rootPresent?: boolean }): SandboxActor;
}
