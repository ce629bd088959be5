// The archive's durable steps are the shared ones (shared/files.ts).
export { installFile, isMissing, unlinkIfPresent as removeIfPresent } from '../../shared/files.js';
