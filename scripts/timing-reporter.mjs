/**
 * A node:test reporter that writes, when the run ends, one JSON object: for each test file,
 * the seconds its top-level tests and suites took (their durations include their before/after
 * hooks, so a suite that builds a site counts its build). scripts/run-tests.mjs adds these up
 * over the suites and prints the slowest files, so the next person sees where the time goes.
 *
 *   node --test --test-reporter=./scripts/timing-reporter.mjs --test-reporter-destination=timings.json ...
 */
import { relative } from 'node:path';

export default async function* timingReporter(source) {
  const seconds = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    if (data.nesting !== 0 || !data.file) continue;
    const file = relative(process.cwd(), data.file);
    seconds[file] = (seconds[file] ?? 0) + (data.details?.duration_ms ?? 0) / 1000;
  }
  yield `${JSON.stringify(seconds)}\n`;
}
