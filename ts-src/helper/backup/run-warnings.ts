/**
 * The warnings of one backup run: each is reported as it happens and kept for the manifest.
 * Both formats' runs (run-backup.ts, run-backup-v2.ts) collect them the same way.
 */
import type { Reporter } from '../core/reporter.js';

export function runWarnings(reporter: Reporter, earlier: readonly string[] = []): { warnings: string[]; warn: (code: string, message: string) => void } {
  const warnings = [...earlier];
  return {
    warnings,
    warn(code, message) {
      warnings.push(message);
      reporter.emit({ type: 'warning', code, message });
    },
  };
}
