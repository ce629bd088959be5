export { BraidNode } from './node.js';
export { HandOff } from './handoff.js';
export { LambdaSources, Sources } from './sources.js';
export type { Source, ViewSource } from './sources.js';
export { Verifier, VerificationTriggers } from './verification/verifier.js';
export type { Verification } from './verification/verifier.js';
export { compareView, mergeRows } from './verification/compare.js';
export type { ViewVerification, Difference } from './verification/compare.js';
export * as evolution from './evolution.js';
