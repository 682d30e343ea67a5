// Container ids as runsc takes them: an existing id exactly, else a unique prefix of one
// (runsc's container.Load with LoadOpts{Exact: false}, findContainerID). An ambiguous prefix is
// refused naming every candidate; a prefix of none is left as given, so the command says
// what it says of a missing container (`container does not exist`).
import fs from 'node:fs';
import { RunaError, isValidId } from '../errors.js';
import { containerDir, stateFile } from '../paths.js';
import { listIds } from '../state.js';

/** The full id `id` stands for in `root`. */
export function resolveId(root: string, id: string): string {
  if (!isValidId(id) || fs.existsSync(stateFile(containerDir(root, id)))) return id;
  const candidates = listIds(root).filter((c) => c.startsWith(id));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) {
    throw new RunaError('ambiguous_id', `id ${JSON.stringify(id)} is ambiguous and could refer to multiple containers: ${candidates.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  return id;
}
