/**
 * A node:test reporter for scripts/run-tests.mjs: when the run ends it writes one JSON object,
 *   { "counts": { "tests": N, "pass": N, "fail": N, "cancelled": N, "skipped": N, "todo": N, ... },
 *     "seconds": { "<test file>": S, ... } }
 * `counts` are the runner's own closing figures (the ones the spec reporter prints after ℹ);
 * `seconds` are, per test file, the durations of its top-level tests and suites (a suite's
 * duration includes its before/after hooks, so a suite that builds a site counts its build);
 * a suite defined in a shared module is its own row, "<module>: <suite name>".
 * run-tests.mjs adds the seconds up over the suites and prints the slowest files.
 *
 *   node --test --test-reporter=./scripts/summary-reporter.mjs --test-reporter-destination=summary.json ...
 */
import { relative } from 'node:path';

export default async function* summaryReporter(source) {
  const counts = {};
  const seconds = {};
  for await (const event of source) {
    const { data } = event;
    if (event.type === 'test:diagnostic' && data.nesting === 0) {
      const figure = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/.exec(data.message);
      if (figure) counts[figure[1]] = Number(figure[2]);
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && data.nesting === 0 && data.file) {
      // `file` is where the test is defined: for a suite defined in a shared module (the e2e
      // scenario, one per site), the suite's name tells the rows apart.
      const file = relative(process.cwd(), data.file);
      const row = /\.test\.[cm]?[jt]s$/.test(file) ? file : `${file}: ${data.name}`;
      seconds[row] = (seconds[row] ?? 0) + (data.details?.duration_ms ?? 0) / 1000;
    }
  }
  yield `${JSON.stringify({ counts, seconds })}\n`;
}
