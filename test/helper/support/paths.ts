import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Built by `npm test` (build step) or `npm run build` before the helper tests run. */
export const HELPER_BUNDLE = fileURLToPath(new URL('../../../dist/civibackup.mjs', import.meta.url));
/** The bundle's chunks (mysql2, AWS SDK, ssh2, age), loaded by dynamic import() beside HELPER_BUNDLE. */
export const HELPER_CHUNKS = fileURLToPath(new URL('../../../dist/helper-chunks/', import.meta.url));
/** The pack writer's worker thread, started from beside HELPER_BUNDLE by the first new blob of a run. */
export const HELPER_PACK_WORKER = fileURLToPath(new URL('../../../dist/civibackup-pack-worker.mjs', import.meta.url));
