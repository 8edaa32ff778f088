/**
 * Checks of the settings before they are sent; the server checks again. Returns a message per
 * field id (the ids the form uses for its inputs), so each message sits next to its field.
 * Pure, so it is tested without a browser form.
 */
import type { BackupConfig } from '../../protocol/api.js';
import { SOURCE_ID_PATTERN } from '../../protocol/manifest.js';
import { ts } from '../i18n.js';
import { isAgeRecipient } from '../shared/age-keys.js';

export type FieldErrors = Record<string, string>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const RETENTION_FIELDS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

/** Splits a textarea into trimmed non-empty lines (commas also separate e-mail addresses). */
export function splitList(text: string, commas = false): string[] {
  return text
    .split(commas ? /[\n,]/ : /\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function validateConfig(config: BackupConfig, options: { secretKeyPendingDownload?: boolean } = {}): FieldErrors {
  const errors: FieldErrors = {};
  if (!config.includeDatabase && !config.directories.some((d) => d.included)) {
    errors['includeDatabase'] = ts('Choose at least the database or one directory; otherwise a backup would be empty.');
  }
  // Mirrors CRM_Civibackup_Config::validate(), which checks again on save.
  const destination = config.destination.trim();
  if (!destination) errors['destination'] = ts('Enter the directory where backup sets are written.');
  else if (!destination.startsWith('/') && !destination.startsWith('[')) {
    errors['destination'] = ts('Use an absolute path that starts with /, or a path expression such as [civicrm.private]/civibackup.');
  } else if (destination.includes('..')) errors['destination'] = ts('The path must not contain "..".');

  for (const field of RETENTION_FIELDS) {
    const value = config.retention[field];
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 10000)) {
      errors[field] = ts('Enter a whole number from 0 to 10000.');
    }
  }
  if (!errors['keepLast'] && !((config.retention.keepLast ?? 0) >= 1)) {
    errors['keepLast'] = ts('Keep at least the last set (1 or more).');
  }

  // The helper's own pattern (CRM_Civibackup_JobBuilder::SOURCE_ID_PATTERN mirrors it).
  const sourceId = config.sourceId.trim();
  if (sourceId !== '' && !SOURCE_ID_PATTERN.test(sourceId)) {
    errors['sourceId'] = ts('Use letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit; no spaces), or leave it empty.');
  }

  const badRecipients = config.recipients.filter((r) => !isAgeRecipient(r));
  if (badRecipients.length) {
    errors['recipients'] = ts('Not an age public key (age1 followed by 58 letters and digits, with a valid checksum): %1', {
      1: badRecipients.join(', '),
    });
  }
  if (options.secretKeyPendingDownload) {
    errors['generateKey'] = ts('Download the new secret key before saving: without it, backups encrypted to its public key cannot be opened.');
  }

  config.offsite.forEach((d, i) => {
    const prefix = `offsite-${i}-`;
    if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/.test(d.name.trim())) {
      errors[`${prefix}name`] = ts('Give it a short name: letters, digits, space, . _ - (for example "s3-main").');
    }
    if (config.offsite.findIndex((o) => o.name === d.name) !== i) errors[`${prefix}name`] = ts('Each destination needs its own name.');
    const required = d.type === 's3' ? ['bucket', 'accessKeyId'] : ['host', 'username', 'path'];
    for (const key of required) {
      if (!(d.options[key] ?? '').trim()) errors[`${prefix}${key}`] = ts('Required.');
    }
    if (d.type === 'sftp' && d.options['port'] && !(/^\d{1,5}$/.test(d.options['port']) && Number(d.options['port']) <= 65535)) {
      errors[`${prefix}port`] = ts('Enter a port number.');
    }
    if (d.type === 's3' && d.options['endpoint'] && !/^https?:\/\//.test(d.options['endpoint'])) {
      errors[`${prefix}endpoint`] = ts('Enter a URL starting with https:// (or http:// for a local test server).');
    }
    if (!d.hasSecret && !d.secret) {
      errors[`${prefix}secret`] = d.type === 's3' ? ts('Enter the secret access key.') : ts('Paste the private key for this user.');
    }
  });

  const badEmails = config.alertEmails.filter((e) => !EMAIL.test(e));
  if (badEmails.length) errors['alertEmails'] = ts('Not an e-mail address: %1', { 1: badEmails.join(', ') });
  if (!Number.isInteger(config.maxAgeHours) || config.maxAgeHours < 1) errors['maxAgeHours'] = ts('Enter a number of hours, 1 or more.');
  if (config.nodePath && !config.nodePath.startsWith('/')) errors['nodePath'] = ts('Use an absolute path, or leave it empty to find node on the PATH.');
  return errors;
}

/** Where a field path of Backup.saveConfig's CONFIG error sits in this form (its input's id). */
export function fieldIdForPath(path: string): string {
  const parts = path.split('.');
  switch (parts[0]) {
    case 'recipients':
    case 'alertEmails':
      return parts[0];
    case 'retention':
      return parts[1] ?? 'keepLast';
    case 'schedule':
      return parts[1] === 'active' ? 'scheduleActive' : 'frequency';
    case 'offsite':
      return parts[2] === 'options' ? `offsite-${parts[1]}-${parts[3]}` : `offsite-${parts[1]}-${parts[2] ?? 'name'}`;
    default:
      return path;
  }
}

const SERVER_PATH = /(?:^|[\s;])((?:destination|recipients|alertEmails|retention|sourceId|maxAgeHours|nodePath|offsite|schedule|directories|includeDatabase|includeLoggingDatabase|skipCacheData)(?:\.[A-Za-z0-9]+)*): /g;

/**
 * Reads the per-field problems out of a CONFIG rejection's message (ts-src/protocol/api.ts:
 * "Not saved. destination: ...; recipients.0: ...") so each one can sit next to its field.
 */
export function serverFieldErrors(message: string): FieldErrors {
  const matches = [...message.matchAll(SERVER_PATH)];
  const errors: FieldErrors = {};
  matches.forEach((match, i) => {
    const start = (match.index ?? 0) + match[0].length;
    const end = i + 1 < matches.length ? (matches[i + 1].index ?? message.length) : message.length;
    const text = message.slice(start, end).replace(/;\s*$/, '').trim();
    const id = fieldIdForPath(match[1]);
    errors[id] = errors[id] ? `${errors[id]} ${text}` : text;
  });
  return errors;
}
