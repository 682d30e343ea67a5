// Errors are values with a code and the user-facing wording (runc's where callers match on it).
export class RunaError extends Error {
  /** `exitStatus`: the CLI's status for it, where runc's is not 1 */
  constructor(readonly code: string, message: string, readonly exitStatus?: number) {
    super(message);
    this.name = 'RunaError';
  }
}

export const notExist = () => new RunaError('not_exist', 'container does not exist');
export const alreadyExists = (id: string) => new RunaError('exists', `container with id ${JSON.stringify(id)} already exists`);
export const invalidId = (id: string) =>
  new RunaError('invalid_id', `invalid container id ${JSON.stringify(id)}: it must match ^[A-Za-z0-9_+.-]+$ and not be "." or ".."`);

export const isValidId = (id: string): boolean => /^[A-Za-z0-9_+.-]+$/.test(id) && id !== '.' && id !== '..' && id.length <= 1024;

export function validateId(id: string): void {
  if (!isValidId(id)) throw invalidId(id);
}

export function errorBody(e: unknown): { code: string; message: string } {
  if (e instanceof RunaError) return { code: e.code, message: e.message };
  if (e instanceof Error) return { code: 'internal', message: e.message };
  return { code: 'internal', message: String(e) };
}

/** zod's words for a field that is not there ("expected number, received undefined") in a user's. */
export function plainMessage(message: string): string {
  const m = /^Invalid input: expected (\w+), received undefined$/.exec(message);
  return m ? `missing (expected ${/^[aeiou]/.test(m[1]) ? 'an' : 'a'} ${m[1]})` : message;
}
