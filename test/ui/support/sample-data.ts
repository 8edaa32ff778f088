/**
 * Scripted data for the fake CRM (tests and screenshots): a site with three sets, one proven
 * restorable, one encrypted, and a settings record with every section filled in.
 */
import type { BackupConfig, OverviewRecord } from '../../../ts-src/protocol/api.js';
import type { HelperEvent } from '../../../ts-src/protocol/events.js';
import type { SetSummary } from '../../../ts-src/protocol/sets.js';
import type { TreeChanges } from '../../../ts-src/protocol/tree-changes.js';
import { FakeCrm } from './fake-crm.js';

export const NOW = new Date('2026-11-26T07:00:00Z');

/** A real recipient (its secret key is not kept anywhere; used only for display). */
export const SAMPLE_RECIPIENT = 'age18gmwx27mnrmwczqfp55yplt8dlrg34lvqkvwq0vlefj3y6dxqpdqgtxq2u';

/** The source identity `civibackup list` gives a set without source.id (host name and main database). */
export const SAMPLE_SOURCE = 'host=web1|db=localhost/civicrm';

/**
 * Deduplicated (format 2) sets as `civibackup list` reports them: each needs about the whole
 * site (referencedBytes) but added only what changed (addedBytes), except the first run.
 */
export function sampleDedupSets(): SetSummary[] {
  const base = sampleSets()[0];
  const day = (n: number, added: number): SetSummary => ({
    ...base,
    setId: `202611${String(26 - n).padStart(2, '0')}T020003Z-dd${n}x0a`,
    location: `/var/backups/civicrm/sets/202611${String(26 - n).padStart(2, '0')}T020003Z-dd${n}x0a`,
    createdAt: `2026-11-${String(26 - n).padStart(2, '0')}T02:00:03Z`,
    format: 2,
    bytes: 700_000_000,
    referencedBytes: 700_000_000,
    addedBytes: added,
  });
  return [day(0, 9_000_000), day(1, 11_000_000), day(2, 10_000_000), day(3, 650_000_000)];
}

/**
 * What Backup.codeChanges answers for sampleDedupSets()[0] after a hand edit of a core file and
 * an upgrade from 6.17.2 to 6.18.0 (`omitted` more changes counted than listed).
 */
export function sampleCodeChanges(overrides: Partial<TreeChanges> = {}): TreeChanges {
  return {
    label: 'code',
    civicrmVersion: '6.18.0',
    compared: true,
    previous: { setId: sampleDedupSets()[1]!.setId, civicrmVersion: '6.17.2' },
    counts: { added: 1, modified: 2, removed: 1 },
    paths: [
      { path: 'CRM/Contact/BAO/Contact.php', change: 'modified' },
      { path: 'CRM/Core/Payment/Custom.php', change: 'added' },
      { path: 'civicrm-version.php', change: 'modified' },
      { path: 'templates/CRM/Old.tpl', change: 'removed' },
    ],
    omitted: 0,
    ...overrides,
  };
}

export function sampleSets(): SetSummary[] {
  return [
    {
      setId: '20261126T020003Z-k3f9a1',
      location: '/var/backups/civicrm/20261126T020003Z-k3f9a1',
      createdAt: '2026-11-26T02:00:03Z',
      finishedAt: '2026-11-26T02:04:41Z',
      bytes: 734_003_200,
      parts: 212,
      encrypted: true,
      databases: [
        { role: 'main', name: 'civicrm', tables: 186, rows: 2_418_334 },
        { role: 'logging', name: 'civicrm_log', tables: 150, rows: 912_004 },
      ],
      directories: [
        { label: 'custom', files: 10_332, bytes: 512_000_000 },
        { label: 'images', files: 412, bytes: 38_000_000 },
      ],
      verification: { state: 'hashes-ok', at: '2026-11-26T02:05:10Z' },
      source: SAMPLE_SOURCE,
    },
    {
      setId: '20261125T020002Z-9xq2mm',
      location: '/var/backups/civicrm/20261125T020002Z-9xq2mm',
      createdAt: '2026-11-25T02:00:02Z',
      finishedAt: '2026-11-25T02:04:30Z',
      bytes: 731_906_048,
      parts: 210,
      encrypted: true,
      databases: [{ role: 'main', name: 'civicrm', tables: 186, rows: 2_417_901 }],
      directories: [{ label: 'custom', files: 10_330, bytes: 511_000_000 }],
      verification: { state: 'restorable', at: '2026-11-25T03:10:00Z', restoreSeconds: 312 },
      source: SAMPLE_SOURCE,
    },
    {
      setId: '20261118T020001Z-a7b7c7',
      location: '/var/backups/civicrm/20261118T020001Z-a7b7c7',
      createdAt: '2026-11-18T02:00:01Z',
      finishedAt: '2026-11-18T02:04:12Z',
      bytes: 702_545_920,
      parts: 205,
      encrypted: false,
      databases: [{ role: 'main', name: 'civicrm', tables: 185, rows: 2_390_120 }],
      directories: [{ label: 'custom', files: 10_101, bytes: 498_000_000 }],
      verification: { state: 'damaged', at: '2026-11-20T09:00:00Z', detail: 'db/200-data-civicrm_contact.0001.sql.gz: SHA-256 differs' },
      source: SAMPLE_SOURCE,
    },
  ];
}

export function sampleOverview(overrides: Partial<OverviewRecord> = {}): OverviewRecord {
  const [last, restorable] = sampleSets();
  return {
    lastBackup: last,
    lastRestorable: restorable,
    nextScheduledRun: '2026-11-27T02:00:00Z',
    jobActive: true,
    jobFrequency: 'Daily',
    runningRunId: null,
    warnings: [
      {
        name: 'civibackup_offsite',
        level: 'warning',
        title: 'No offsite copy',
        message: 'Backups are only stored on this server. Add an offsite destination under Settings.',
      },
    ],
    storage: [
      { destination: 'local: /var/backups/civicrm', bytes: 2_168_455_168, sets: 3 },
      { destination: 's3-main: s3://example-backups/civicrm', bytes: 1_466_000_000, sets: 2 },
    ],
    nodeVersion: 'v20.19.0',
    ...overrides,
  };
}

export function sampleConfig(overrides: Partial<BackupConfig> = {}): BackupConfig {
  return {
    includeDatabase: true,
    includeLoggingDatabase: true,
    loggingDatabaseSeparate: true,
    directories: [
      { key: 'custom', label: 'Uploaded files (custom)', path: '/var/www/site/private/civicrm/custom', included: true },
      { key: 'images', label: 'Images (public uploads)', path: '/var/www/site/files/civicrm/persist/contribute', included: true },
      { key: 'templates', label: 'Custom templates', path: null, included: false },
      { key: 'php', label: 'Custom PHP', path: null, included: false },
      { key: 'extensions', label: 'Extensions', path: '/var/www/site/files/civicrm/ext', included: false },
    ],
    destination: '/var/backups/civicrm',
    retention: { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 },
    sourceId: '',
    recipients: [SAMPLE_RECIPIENT],
    skipCacheData: true,
    alertEmails: ['admin@example.org'],
    maxAgeHours: 26,
    nodePath: '',
    offsite: [
      {
        name: 's3-main',
        type: 's3',
        options: { endpoint: '', region: 'eu-west-1', bucket: 'example-backups', prefix: 'civicrm', accessKeyId: 'AKIAEXAMPLE' },
        hasSecret: true,
      },
    ],
    schedule: { frequency: 'Daily', active: true },
    ...overrides,
  };
}

/** A hand-written run, shaped like the helper's --json output. */
export function sampleRunEvents(runId = 'run-1'): HelperEvent[] {
  const base = { v: 1 as const, runId };
  return [
    { ...base, seq: 1, time: '2026-11-26T07:00:00.000Z', type: 'start', command: 'backup', toolVersion: '0.1.0', set: '20261126T070000Z-abcd12' },
    { ...base, seq: 2, time: '2026-11-26T07:00:00.100Z', type: 'phase', phase: 'prepare' },
    { ...base, seq: 3, time: '2026-11-26T07:00:01.000Z', type: 'phase', phase: 'data', totalBytes: 100_000_000, totalItems: 3 },
    { ...base, seq: 4, time: '2026-11-26T07:00:03.000Z', type: 'progress', phase: 'data', item: 'civicrm_contact', rows: 5000, rowsTotal: 20000, bytes: 20_000_000, itemsDone: 0, itemsTotal: 3 },
    { ...base, seq: 5, time: '2026-11-26T07:00:05.000Z', type: 'warning', code: 'TABLE_SKIPPED', message: 'civicrm_cache: data skipped (cache table)', item: 'civicrm_cache' },
    { ...base, seq: 6, time: '2026-11-26T07:00:06.000Z', type: 'progress', phase: 'data', item: 'civicrm_activity', rows: 12000, bytes: 50_000_000, itemsDone: 1, itemsTotal: 3 },
  ];
}

export function sampleRunEnd(runId = 'run-1'): HelperEvent[] {
  const base = { v: 1 as const, runId };
  return [
    { ...base, seq: 7, time: '2026-11-26T07:00:09.000Z', type: 'phase', phase: 'files', totalItems: 2 },
    { ...base, seq: 8, time: '2026-11-26T07:00:12.000Z', type: 'result', command: 'backup', set: '/var/backups/civicrm/20261126T070000Z-abcd12', summary: { bytes: 734_003_200, parts: 212 } },
  ];
}

export function sampleRunError(runId = 'run-1', seq = 7): HelperEvent {
  return {
    v: 1,
    runId,
    seq,
    time: '2026-11-26T07:00:08.000Z',
    type: 'error',
    code: 'DISK_FULL',
    message: 'No space left on /var/backups/civicrm while writing db/200-data-civicrm_activity.0001.sql.gz.',
    hint: 'The destination has no space left; free space or choose another destination. Earlier sets are untouched.',
    retryable: false,
    exitCode: 1,
  };
}

/** A verify run as the helper reports it; `fail` ends it with SET_DAMAGED instead of a result. */
export function sampleVerifyEvents(runId: string, setId: string, fail = false): HelperEvent[] {
  const base = { v: 1 as const, runId };
  const end: HelperEvent = fail
    ? {
        ...base,
        seq: 4,
        time: '2026-11-26T07:01:00.000Z',
        type: 'error',
        code: 'SET_DAMAGED',
        message: `Damaged set ${setId}: db/100-schema.sql.gz is truncated`,
        hint: 'The set is damaged (a part is missing, truncated or altered). Use another set or an offsite copy.',
        retryable: false,
        exitCode: 3,
      }
    : { ...base, seq: 4, time: '2026-11-26T07:01:00.000Z', type: 'result', command: 'verify', set: setId, summary: { state: 'hashes-ok' } };
  return [
    { ...base, seq: 1, time: '2026-11-26T07:00:00.000Z', type: 'start', command: 'verify', toolVersion: '0.1.0', set: setId },
    { ...base, seq: 2, time: '2026-11-26T07:00:00.100Z', type: 'phase', phase: 'verify', totalItems: 9 },
    { ...base, seq: 3, time: '2026-11-26T07:00:30.000Z', type: 'progress', phase: 'verify', item: 'db/200-data-civicrm_contact.sql.gz', bytes: 1000, itemsDone: 4, itemsTotal: 9 },
    end,
  ];
}

/** A CiviCRM whose "Back up now" starts run-1, which reports progress once, then ends. */
export function backupNowFake(): FakeCrm {
  return new FakeCrm()
    .on('overview', { records: [sampleOverview()] })
    .on('run', { records: [{ runId: 'run-1' }] })
    .on(
      'status',
      { records: [{ runId: 'run-1', events: sampleRunEvents(), done: false, running: true }] },
      { records: [{ runId: 'run-1', events: sampleRunEnd(), done: true, running: false }] },
    );
}

/** A set of a WordPress site: CiviCRM shares the database with WordPress (12 wp_ tables), so the restore offers its scope. */
export function sampleWordPressSet(overrides: Partial<SetSummary> = {}): SetSummary {
  return {
    setId: '20261126T020003Z-wp0001',
    location: '/var/backups/civicrm/20261126T020003Z-wp0001',
    createdAt: '2026-11-26T02:00:03Z',
    finishedAt: '2026-11-26T02:03:10Z',
    bytes: 412_000_000,
    parts: 160,
    encrypted: false,
    databases: [{ role: 'main', name: 'wordpress', tables: 198, rows: 1_208_334, otherTables: 12 }],
    directories: [
      { label: 'custom', files: 4_102, bytes: 212_000_000 },
      { label: 'images', files: 120, bytes: 18_000_000 },
    ],
    verification: { state: 'restorable', at: '2026-11-26T03:10:00Z', restoreSeconds: 180 },
    source: 'host=web1|db=localhost/wordpress',
    thisSite: true,
    trigger: 'cron',
    ...overrides,
  };
}

/** The safety backup a restore of `setId` wrote first (trigger safety-before-restore). */
export function sampleSafetySet(setId = '20261126T070000Z-safe01'): SetSummary {
  return sampleWordPressSet({ setId, location: `/var/backups/civicrm/${setId}`, createdAt: '2026-11-26T07:00:00Z', finishedAt: '2026-11-26T07:02:40Z', trigger: 'safety-before-restore', verification: { state: 'unverified', at: '' } });
}

/**
 * A restore over the live site as Backup.status reports it (PHP merges the two steps): the
 * safety backup (its result becomes a 'restore' phase event), then the restore. `upTo` cuts
 * it short (live progress); `end` adds the result or an error.
 */
export function sampleRestoreEvents(runId: string, setId: string, upTo = 99, end: 'result' | 'error' | 'none' = 'result'): HelperEvent[] {
  const base = { v: 1 as const, runId };
  const events: HelperEvent[] = [
    { ...base, seq: 1, time: '2026-11-26T07:00:00.000Z', type: 'start', command: 'backup', toolVersion: '0.2.0', set: '20261126T070000Z-safe01' },
    { ...base, seq: 2, time: '2026-11-26T07:00:00.500Z', type: 'phase', phase: 'data', totalBytes: 900_000_000, totalItems: 198 },
    { ...base, seq: 3, time: '2026-11-26T07:00:30.000Z', type: 'progress', phase: 'data', item: 'civicrm_contact', bytes: 450_000_000, itemsDone: 90, itemsTotal: 198 },
    { ...base, seq: 4, time: '2026-11-26T07:02:40.000Z', type: 'phase', phase: 'restore' },
    { ...base, seq: 5, time: '2026-11-26T07:02:41.000Z', type: 'start', command: 'restore', toolVersion: '0.2.0', set: `/var/backups/civicrm/${setId}` },
    { ...base, seq: 6, time: '2026-11-26T07:02:42.000Z', type: 'phase', phase: 'restore', totalBytes: 1_100_000_000, totalItems: 190 },
    { ...base, seq: 7, time: '2026-11-26T07:03:12.000Z', type: 'progress', phase: 'restore', item: 'civicrm_activity', bytes: 440_000_000, itemsDone: 61, itemsTotal: 190 },
  ];
  const cut = events.filter((e) => e.seq <= upTo);
  if (end === 'result' && upTo >= 7) {
    cut.push({ ...base, seq: 8, time: '2026-11-26T07:04:00.000Z', type: 'result', command: 'restore', set: `/var/backups/civicrm/${setId}`, summary: { databases: [{ statements: 5000 }], directories: [] } });
  }
  if (end === 'error' && upTo >= 7) {
    cut.push({
      ...base,
      seq: 8,
      time: '2026-11-26T07:03:20.000Z',
      type: 'error',
      code: 'DB_PRIVILEGE',
      message: 'The staging database civicrm_cbstage could not be created: access denied.',
      hint: 'Grant the database user CREATE and DROP on civicrm_cbstage, or name a staging database it may create. The live database was not changed.',
      retryable: false,
      exitCode: 1,
    });
  }
  return cut;
}
