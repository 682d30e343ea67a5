// runa's version and the OCI runtime-spec version it implements.
export const VERSION = '0.1.0';
export const SPEC_VERSION = '1.3.0';

declare const __RUNA_COMMIT__: string | undefined;
/** The git commit the bundle was built from (scripts/bundle.mjs), as runc prints it. */
export const COMMIT = typeof __RUNA_COMMIT__ === 'string' ? __RUNA_COMMIT__ : 'unknown';
