/**
 * Two bundles, both written to dist/ (not committed; `npm run build` and `npm run package`
 * make them):
 *  - dist/ui/civibackup-ui.js: the Lit admin page, one classic script (IIFE) so the ang
 *    module can list it like any other CiviCRM asset; lit is bundled in, minified.
 *  - dist/civibackup.mjs: the Node helper's entry point (package.json bin.civibackup), with
 *    its chunks in dist/helper-chunks/: mysql2, the AWS SDK and ssh2 are each loaded by a
 *    dynamic import() where a run first needs them, so a files-only backup or a `list` does
 *    not parse megabytes it never uses. Everything is bundled: it runs with no node_modules.
 *  - dist/civibackup-pack-worker.mjs: the pack writer's worker thread (repo/pack-append-worker.ts),
 *    which the helper starts from beside itself; node: modules only, so it starts fast.
 * esbuild only strips types here; `npm run typecheck` (tsc --noEmit, strict) checks them.
 */
import { nodeResolve } from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import json from '@rollup/plugin-json';
import esbuild from 'rollup-plugin-esbuild';
import { rmSync } from 'node:fs';

const HELPER_CHUNKS = 'helper-chunks';

/** Empties dist/helper-chunks before a build, so no chunk of an earlier build lingers (or reaches a release zip). */
const cleanHelperChunks = {
  name: 'clean-helper-chunks',
  buildStart() {
    rmSync(`dist/${HELPER_CHUNKS}`, { recursive: true, force: true });
  },
};

const onwarn = (warning, warn) => {
  // Dependencies (AWS SDK, ssh2) use `this` at module top level and circular imports; both are harmless in a bundle.
  if (warning.code === 'THIS_IS_UNDEFINED' || warning.code === 'CIRCULAR_DEPENDENCY') return;
  // @scure/base documents its own /* @__PURE__ */ usage in a comment rollup cannot place.
  if (warning.code === 'INVALID_ANNOTATION' && /node_modules/.test(warning.id ?? '')) return;
  if (warning.code === 'EVAL' && /node_modules/.test(warning.id ?? '')) return;
  warn(warning);
};

export default [
  {
    input: 'ts-src/ui/index.ts',
    output: { file: 'dist/ui/civibackup-ui.js', format: 'iife', sourcemap: true },
    onwarn,
    plugins: [
      nodeResolve({ browser: true }),
      esbuild({ target: 'es2021', tsconfig: 'tsconfig.json', minify: true }),
    ],
  },
  {
    input: 'ts-src/helper/cli.ts',
    output: {
      dir: 'dist',
      entryFileNames: 'civibackup.mjs',
      // No content hash: a build's chunk names are stable and the entry is the only name callers use.
      chunkFileNames: `${HELPER_CHUNKS}/[name].mjs`,
      format: 'es',
      sourcemap: false,
      // Every chunk gets it. CommonJS dependencies (ssh2: __dirname for its optional agent/native paths; tweetnacl:
      // `require` to find node:crypto) expect these; an ES module has none of them.
      banner: [
        "import { createRequire as __cbCreateRequire } from 'node:module';",
        "import { fileURLToPath as __cbFileURLToPath } from 'node:url';",
        "import { dirname as __cbDirname } from 'node:path';",
        'const __filename = __cbFileURLToPath(import.meta.url);',
        'const __dirname = __cbDirname(__filename);',
        'const require = __cbCreateRequire(import.meta.url);',
      ].join('\n'),
    },
    external: (id) => id.startsWith('node:') || ['cpu-features'].includes(id) || /\.node$/.test(id),
    onwarn,
    plugins: [
      cleanHelperChunks,
      nodeResolve({ preferBuiltins: true, exportConditions: ['node'] }),
      commonjs({ ignoreDynamicRequires: true, ignore: ['cpu-features'] }),
      json(),
      esbuild({ target: 'node20', tsconfig: 'tsconfig.json', minify: false }),
    ],
  },
  {
    input: 'ts-src/helper/repo/pack-append-worker.ts',
    output: { file: 'dist/civibackup-pack-worker.mjs', format: 'es', sourcemap: false },
    external: (id) => id.startsWith('node:'),
    onwarn,
    plugins: [esbuild({ target: 'node20', tsconfig: 'tsconfig.json', minify: false })],
  },
];
