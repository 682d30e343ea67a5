// What `runa ui` and its page say to each other over the page's WebSocket. The page only
// watches: the one thing it may ask for is a container's recorded history.
import { z } from 'zod';
import type { HistoryEntry } from '../actors/history.js';

/** page → server */
export const PageMessage = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('history'), id: z.string().min(1).max(1024) }),
]);
export type PageMessage = z.infer<typeof PageMessage>;

/** One live actor as the bulk snapshot gives it. */
export interface ActorInfo {
  address: string;
  parent: string | null;
  sessionId: string;
  machine: string;
  value: unknown;
  context: unknown;
  status: string;
}

/** One entry of a container's history. */
export type { HistoryEntry };

/** A frame of the daemon's inspect topic: Stately's (`@xstate.*`) or runa's own (`_runa`). */
export type Frame = { type: string; sessionId?: string; createdAt?: string; [k: string]: unknown };

/** server → page */
export type ServerMessage =
  | { kind: 'snapshot'; at: number; actors: ActorInfo[]; definitions: Record<string, unknown> }
  | { kind: 'frames'; frames: Frame[] }
  | { kind: 'history'; id: string; events: HistoryEntry[] }
  | { kind: 'daemon'; up: boolean }
  | { kind: 'error'; message: string };
