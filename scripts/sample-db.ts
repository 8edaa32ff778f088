/**
 * Creates the CiviCRM-shaped sample database (bench/civicrm-sample.ts) for demos and manual
 * tries; the same CLI under scripts/ so the README can point at one place.
 *
 *   npx tsx scripts/sample-db.ts --database civibackup_demo [--scale 0.005] [--force]
 */
import { createSampleDatabase, DEFAULT_DSN } from '../bench/civicrm-sample.js';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    database: { type: 'string', default: 'civibackup_demo' },
    scale: { type: 'string', default: '0.005' },
    dsn: { type: 'string', default: process.env.CIVIBACKUP_BENCH_DSN ?? DEFAULT_DSN },
    force: { type: 'boolean', default: false },
  },
});

createSampleDatabase({
  dsn: values.dsn,
  database: values.database!,
  scale: Number(values.scale),
  force: values.force,
  log: (line) => process.stderr.write(line + '\n'),
}).then(
  (result) => process.stdout.write(JSON.stringify(result) + '\n'),
  (error: unknown) => {
    process.stderr.write(`sample-db: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
