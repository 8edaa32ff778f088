/**
 * Run by files-unprivileged.test.ts as user nobody (root reads everything, so permission
 * failures can only be seen by another user). Archives each given directory, then restores
 * the first archive, and prints one JSON line with what happened.
 */
import { archiveDirectories, restoreDirectory } from '../../../ts-src/helper/files/index.js';
import { createReporter } from '../../../ts-src/helper/core/reporter.js';
import { createSetDirectory } from '../../../ts-src/helper/set/set-store.js';
import type { WarningEvent } from '../../../ts-src/protocol/events.js';
import { manifestFor } from './files-fixtures.js';

const [destination, restoreTarget, ...specs] = process.argv.slice(2);
const out: Record<string, unknown> = { uid: process.getuid?.() };
for (const spec of specs) {
  const [label, path] = spec.split('=');
  const reporter = createReporter({ mode: 'silent', keep: true });
  const set = await createSetDirectory(destination);
  try {
    const result = await archiveDirectories([{ label, path }], { setDir: set.dir, codec: { compression: 'gzip', level: 6 }, reporter });
    const warnings = reporter.events.filter((e): e is WarningEvent => e.type === 'warning').map((w) => [w.code, w.path]);
    out[label] = { ok: true, setDir: set.dir, archive: result.files[0].archive, warnings, files: result.files[0].files };
    if (restoreTarget) {
      const restored = await restoreDirectory(set.dir, manifestFor(set.dir, result.files, result.parts), label, restoreTarget);
      out[`${label}-restore`] = { files: restored.files, directories: restored.directories };
    }
  } catch (error) {
    out[label] = { ok: false, code: (error as { code?: string }).code, message: (error as Error).message };
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
