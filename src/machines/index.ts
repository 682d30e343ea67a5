export * from './refusal.js';
export * from './container.js';
export * from './container-status.js';
export * from './sandbox.js';
export * from './gofer.js';
export * from './process.js';
export * from './conformance.js';
export * from './create.js';
