import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Built by `npm test` (build step) or `npm run build` before the helper tests run. */
export const HELPER_BUNDLE = fileURLToPath(new URL('../../../dist/civibackup.mjs', import.meta.url));
