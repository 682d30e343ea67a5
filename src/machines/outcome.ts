/**
 * What an operation came to, as a machine records it in its context (`seq` numbers the
 * operations it took, `outcome` is the last one's answer): its effect's output, or its error
 * (code and message, as a RunaError carries them). The actor that sent the operation answers its
 * caller with it (src/actors/invoked.ts). Shared by the container and process machines.
 */
export type Outcome = { seq: number; ok: true; value?: unknown } | { seq: number; ok: false; code: string; message: string };

/** An invoked effect's output, from its done event. */
export const outputOf = (event: unknown): unknown => (event as { output?: unknown }).output;

/** Operation `seq` answered with its effect's output (a done event). */
export function succeeded(seq: number, event: unknown): Outcome {
  return { seq, ok: true, value: outputOf(event) };
}

/** Operation `seq` answered with its effect's error (an error event): its code, or `failed`. */
export function failed(seq: number, event: unknown): Outcome {
  const e = (event as { error?: { code?: unknown; message?: unknown } | null }).error ?? null;
  return { seq, ok: false, code: typeof e?.code === 'string' ? e.code : 'failed', message: String(e?.message ?? e) };
}
