import { writeSync } from 'node:fs';
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import { defaultReporter } from '@web/test-runner';
import { a11ySnapshotPlugin } from '@web/test-runner-commands/plugins';

/** Prints "wtr: N passed, N failed, N skipped" at exit; scripts/run-tests.mjs reads it. */
function plainCountReporter() {
  return {
    stop({ sessions }) {
      let passed = 0;
      let failed = 0;
      let skipped = 0;
      const walk = (suite) => {
        for (const t of suite.tests) t.skipped ? skipped++ : t.passed ? passed++ : failed++;
        suite.suites.forEach(walk);
      };
      for (const s of sessions) {
        if (s.testResults) walk(s.testResults);
        if (!s.passed && (s.errors?.length ?? 0) > 0) failed++; // file-level errors (syntax, 404, crash)
      }
      process.once('exit', () => writeSync(1, `wtr: ${passed} passed, ${failed} failed, ${skipped} skipped\n`));
    },
  };
}

export default {
  files: 'test/ui/**/*.test.ts',
  nodeResolve: true,
  // a11ySnapshotPlugin: the UI's accessibility test reads Chromium's accessibility tree (not a default plugin).
  plugins: [esbuildPlugin({ ts: true, tsconfig: 'tsconfig.json' }), a11ySnapshotPlugin()],
  reporters: [defaultReporter(), plainCountReporter()],
  testFramework: { config: { timeout: 10000 } },
  browsers: [
    chromeLauncher({
      launchOptions: {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--disable-quic',
          '--no-first-run',
        ],
      },
    }),
  ],
};
