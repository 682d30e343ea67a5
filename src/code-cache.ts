// The daemon's V8 code cache (bin/runa-daemon.cjs): the loader hands the daemon a way to save
// what it has compiled, and the daemon uses it once, when it is first idle, for the next one.
let saver: (() => void) | null = null;

export function setCodeCacheSaver(save: (() => void) | null): void { saver = save; }

/** Save the code cache if the loader asked for it (once). */
export function saveCodeCache(): void {
  const save = saver;
  saver = null;
  save?.();
}
