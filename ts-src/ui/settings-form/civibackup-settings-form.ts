/**
 * The settings an administrator decides: what is included (with each directory's resolved
 * path), where sets go, how long they are kept (with a live preview), encryption (paste
 * recipients, or generate a key pair here and download the secret once: it never reaches
 * the server), offsite copies (write-only secrets, "Test connection"), alert e-mails and the
 * schedule. Each validation message sits next to its field (aria-describedby, aria-invalid).
 *
 * @fires civibackup-config-saved - after Backup.saveConfig succeeded
 */
import { LitElement, html, css, nothing, type TemplateResult } from 'lit';
import { property, state } from 'lit/decorators.js';
import { Task } from '@lit/task';
import type { BackupConfig, OffsiteConfig, TestDestinationRecord } from '../../protocol/api.js';
import type { RetentionPolicy } from '../../protocol/job.js';
import { ApiError, BackupApi, notify } from '../api/crm-api.js';
import { ts } from '../i18n.js';
import { CONFIG_SAVED, pageEvent } from '../shared/events.js';
import { formatBytes, formatDateTime } from '../shared/format.js';
import { alertStyles, baseStyles, buttonStyles, formStyles, tableStyles } from '../shared/styles.js';
import { generateAgeKeyPair, identityFileText, type AgeKeyPair } from '../shared/age-keys.js';
import { estimateRetainedSpace, previewRetention } from './retention-preview.js';
import type { SetSummary } from '../../protocol/sets.js';
import { serverFieldErrors, splitList, validateConfig, type FieldErrors } from './validation.js';

type RetentionKey = keyof RetentionPolicy;
const RETENTION_FIELDS: Array<{ key: RetentionKey; label: () => string }> = [
  { key: 'keepLast', label: () => ts('Keep the last') },
  { key: 'keepHourly', label: () => ts('Hourly sets to keep') },
  { key: 'keepDaily', label: () => ts('Daily sets to keep') },
  { key: 'keepWeekly', label: () => ts('Weekly sets to keep') },
  { key: 'keepMonthly', label: () => ts('Monthly sets to keep') },
  { key: 'keepYearly', label: () => ts('Yearly sets to keep') },
];

const OFFSITE_FIELDS: Record<OffsiteConfig['type'], Array<{ key: string; label: () => string; help?: () => string }>> = {
  s3: [
    { key: 'endpoint', label: () => ts('Endpoint URL'), help: () => ts('Leave empty for Amazon S3; for other providers, their S3 URL.') },
    { key: 'region', label: () => ts('Region') },
    { key: 'bucket', label: () => ts('Bucket') },
    { key: 'prefix', label: () => ts('Prefix (folder) in the bucket') },
    { key: 'accessKeyId', label: () => ts('Access key ID') },
  ],
  sftp: [
    { key: 'host', label: () => ts('Host') },
    { key: 'port', label: () => ts('Port'), help: () => ts('Empty means 22.') },
    { key: 'username', label: () => ts('User name') },
    { key: 'path', label: () => ts('Directory on the server') },
    { key: 'hostKey', label: () => ts('Host key fingerprint (SHA256:...)'), help: () => ts('Optional; pins the server so a different one is refused.') },
  ],
};

/** Offsite options are strings; PHP stores a boolean true as "1" (JobBuilder reads them with FILTER_VALIDATE_BOOLEAN). */
function isTrueOption(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'on', 'yes'].includes(value.trim().toLowerCase());
}

export class CivibackupSettingsForm extends LitElement {
  static override styles = [
    baseStyles,
    buttonStyles,
    formStyles,
    alertStyles,
    tableStyles,
    css`
      .grid {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr));
        gap: 0 1rem;
      }
      .grid {
        align-items: start;
      }
      .grid .field {
        align-content: start;
      }
      .grid input {
        width: 6em;
      }
      .dest {
        border: 1px dashed var(--crm-c-gray-400, #adaeb3);
        border-radius: var(--crm-roundness, 4px);
        padding: 0.5rem 0.75rem;
        margin-block-end: 0.75rem;
      }
      .row {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: center;
      }
      .key {
        word-break: break-all;
      }
      .save-bar {
        display: flex;
        gap: 0.75rem;
        align-items: center;
        margin-top: 1rem;
      }
      details summary {
        cursor: pointer;
      }
      .preview-list {
        max-height: 14rem;
        overflow: auto;
      }
    `,
  ];

  @property({ attribute: false }) api = new BackupApi();
  @property({ type: Boolean, attribute: 'can-administer' }) canAdminister = false;
  /** Reference time for the retention preview (tests and screenshots pin it). */
  @property({ attribute: false }) now: Date | null = null;

  /** The working copy being edited; null until getConfig answered. */
  @state() draft: BackupConfig | null = null;
  @state() errors: FieldErrors = {};
  @state() private submitted = false;
  @state() private saving = false;
  @state() private saveError = '';
  @state() private saveMessage = '';
  @state() private recipientsText = '';
  @state() private emailsText = '';
  @state() private keyPair: AgeKeyPair | null = null;
  @state() private keyDownloaded = false;
  @state() private keyError = '';
  @state() private destinationTests: Record<number, { pending: boolean; result?: TestDestinationRecord; error?: string }> = {};

  private readonly configTask = new Task(this, {
    task: async () => {
      const config = await this.api.getConfig();
      this.adopt(config);
      return config;
    },
    args: () => [],
  });

  /**
   * The destination's sets, for the retention preview's space estimate from real sizes. Only
   * this site's own (retention counts its own source). A listing that fails (no Node.js, no
   * permission) leaves the estimate out: the preview still says what is kept.
   */
  private readonly setsTask = new Task(this, {
    task: async (): Promise<SetSummary[]> => {
      const sets = await this.api.sets().catch(() => [] as SetSummary[]);
      return sets.filter((s) => s.thisSite !== false);
    },
    args: () => [],
  });

  private adopt(config: BackupConfig): void {
    this.draft = structuredClone(config);
    this.recipientsText = config.recipients.join('\n');
    this.emailsText = config.alertEmails.join('\n');
  }

  private edit(mutate: (draft: BackupConfig) => void): void {
    if (!this.draft) return;
    const next = structuredClone(this.draft);
    mutate(next);
    this.draft = next;
    this.saveMessage = '';
    if (this.submitted) this.errors = this.validate();
  }

  private validate(): FieldErrors {
    return this.draft ? validateConfig(this.draft, { secretKeyPendingDownload: this.keyPair !== null && !this.keyDownloaded }) : {};
  }

  // ---- fields -------------------------------------------------------------------------

  private describedBy(id: string, help: boolean): string | typeof nothing {
    const ids = [help ? `${id}-help` : '', this.errors[id] ? `${id}-error` : ''].filter(Boolean);
    return ids.length ? ids.join(' ') : nothing;
  }

  private messages(id: string, help?: string): TemplateResult {
    return html`${help ? html`<span class="help" id="${id}-help">${help}</span>` : nothing}
    ${this.errors[id] ? html`<span class="error" id="${id}-error">${this.errors[id]}</span>` : nothing}`;
  }

  private textField(
    id: string,
    label: string,
    value: string,
    onInput: (value: string) => void,
    options: { help?: string; placeholder?: string; type?: string; autocomplete?: string } = {},
  ): TemplateResult {
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <input
        id=${id}
        type=${options.type ?? 'text'}
        .value=${value}
        placeholder=${options.placeholder ?? nothing}
        autocomplete=${options.autocomplete ?? 'off'}
        spellcheck="false"
        aria-invalid=${this.errors[id] ? 'true' : 'false'}
        aria-describedby=${this.describedBy(id, Boolean(options.help))}
        @input=${(e: Event) => onInput((e.target as HTMLInputElement).value)}
      />
      ${this.messages(id, options.help)}
    </div>`;
  }

  private checkbox(id: string, label: string, checked: boolean, onChange: (checked: boolean) => void, disabled = false): TemplateResult {
    return html`<div class="field inline">
      <input
        type="checkbox"
        id=${id}
        .checked=${checked}
        ?disabled=${disabled}
        aria-invalid=${this.errors[id] ? 'true' : 'false'}
        aria-describedby=${this.describedBy(id, false)}
        @change=${(e: Event) => onChange((e.target as HTMLInputElement).checked)}
      />
      <label for=${id}>${label}</label>
    </div>
    ${this.errors[id] ? html`<p class="error" id="${id}-error">${this.errors[id]}</p>` : nothing}`;
  }

  // ---- sections -----------------------------------------------------------------------

  private renderIncluded(c: BackupConfig): TemplateResult {
    return html`<fieldset>
      <legend>${ts('What is included')}</legend>
      ${this.checkbox('includeDatabase', ts('The CiviCRM database'), c.includeDatabase, (v) => this.edit((d) => (d.includeDatabase = v)))}
      ${this.checkbox('includeLoggingDatabase', ts('The detailed logging database (when logging is on)'), c.includeLoggingDatabase, (v) =>
        this.edit((d) => (d.includeLoggingDatabase = v)),
      )}
      ${this.checkbox('skipCacheData', ts('Skip the rows of cache tables (they are rebuilt automatically)'), c.skipCacheData, (v) =>
        this.edit((d) => (d.skipCacheData = v)),
      )}
      <p class="help">${ts('Directories, as CiviCRM\u2019s Directories settings resolve them on this server:')}</p>
      ${c.directories.map(
        (dir, i) => html`<div class="field inline">
          <input
            type="checkbox"
            id="dir-${dir.key}"
            .checked=${dir.included}
            ?disabled=${dir.path === null}
            aria-describedby="dir-${dir.key}-path"
            @change=${(e: Event) => this.edit((d) => (d.directories[i].included = (e.target as HTMLInputElement).checked))}
          />
          <label for="dir-${dir.key}">${dir.label}</label>
          <span id="dir-${dir.key}-path" class="help">${dir.path ? html`<code>${dir.path}</code>` : ts('not configured on this site')}</span>
        </div>`,
      )}
    </fieldset>`;
  }

  private renderDestination(c: BackupConfig): TemplateResult {
    return html`<fieldset>
      <legend>${ts('Destination')}</legend>
      ${this.textField('destination', ts('Directory for backup sets on this server'), c.destination, (v) => this.edit((d) => (d.destination = v)), {
        help: ts('An absolute path or a path expression such as [civicrm.private]/civibackup; outside the web root, on a disk with room for several sets. Sets are written here first, then copied offsite. A destination inside the web root is refused when the web server serves a test file from it.'),
        placeholder: '/var/backups/civicrm',
      })}
    </fieldset>`;
  }

  private renderRetention(c: BackupConfig): TemplateResult {
    const preview = previewRetention(c.retention, c.schedule.frequency, this.now ?? new Date());
    return html`<fieldset>
      <legend>${ts('Retention')}</legend>
      <div class="grid">
        ${RETENTION_FIELDS.map(
          ({ key, label }) => html`<div class="field">
            <label for=${key}>${label()}</label>
            <input
              id=${key}
              type="number"
              min="0"
              step="1"
              inputmode="numeric"
              .value=${c.retention[key] === undefined ? '' : String(c.retention[key])}
              aria-invalid=${this.errors[key] ? 'true' : 'false'}
              aria-describedby=${this.describedBy(key, false)}
              @input=${(e: Event) => {
                const raw = (e.target as HTMLInputElement).value.trim();
                this.edit((d) => {
                  if (raw === '') delete d.retention[key];
                  else d.retention[key] = Number(raw);
                });
              }}
            />
            ${this.messages(key)}
          </div>`,
        )}
      </div>
      <div class="alert info" aria-live="polite" data-testid="retention-preview">
        ${preview.keepsEverything
          ? ts('No rule is set, so every backup set is kept until you remove it.')
          : ts('With %1 backups, this policy keeps %2 sets, reaching back %3 days. The newest set and the newest one proven restorable are always kept.', {
              1: ts(c.schedule.frequency.toLowerCase()),
              2: preview.kept.length,
              3: preview.reachDays,
            })}
        ${preview.keepsEverything ? nothing : this.renderSpaceEstimate(preview.kept.length)}
      </div>
      ${preview.keepsEverything
        ? nothing
        : html`<details>
            <summary>${ts('Which sets are kept, and why')}</summary>
            <div class="preview-list">
              <table>
                <thead>
                  <tr>
                    <th scope="col">${ts('Backup from')}</th>
                    <th scope="col">${ts('Kept because')}</th>
                  </tr>
                </thead>
                <tbody>
                  ${preview.kept.map(
                    (k) => html`<tr>
                      <td>${formatDateTime(k.time)}</td>
                      <td>${k.reasons.map((r) => ts(r)).join('; ')}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
          </details>`}
      ${this.textField('sourceId', ts('Source name (optional)'), c.sourceId, (v) => this.edit((d) => (d.sourceId = v)), {
        help: ts(
          'Retention only counts and removes the sets of this site\u2019s own source. Without a name the source is this server\u2019s host name and the CiviCRM database. When several sites, or copies of one site (a cloned server or container with the same host name and database name), write to the same destination directory or offsite prefix, give each its own name, for example example-prod. Letters, digits, . _ - (at most 64). Sets made before the name is set or changed then count as another source: retention leaves them alone, so delete them by hand when they are no longer needed.',
        ),
        placeholder: 'example-prod',
      })}
    </fieldset>`;
  }

  private renderSpaceEstimate(keptCount: number) {
    const estimate = estimateRetainedSpace(this.setsTask.value ?? [], keptCount);
    if (!estimate) return nothing;
    return html`<span data-testid="space-estimate">${estimate.deduplicated
      ? ts('About %1 at the destination, from the sizes of your recent backups: the newest set plus about %2 for each further set (only what changed is stored again).', {
          1: formatBytes(estimate.bytes),
          2: formatBytes(estimate.perSetBytes),
        })
      : ts('About %1 at the destination, from the sizes of your recent backups (each set is a full copy of about %2).', {
          1: formatBytes(estimate.bytes),
          2: formatBytes(estimate.perSetBytes),
        })}</span>`;
  }

  private async generateKey(): Promise<void> {
    this.keyError = '';
    try {
      const pair = await generateAgeKeyPair(this.now ?? new Date());
      this.keyPair = pair;
      this.keyDownloaded = false;
      this.recipientsText = [...splitList(this.recipientsText), pair.recipient].join('\n');
      this.edit((d) => (d.recipients = splitList(this.recipientsText)));
    } catch (error) {
      this.keyError = ts('This browser cannot generate X25519 keys (%1). Run age-keygen on a trusted computer and paste its public key.', {
        1: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** Offers the secret key once as a file, then forgets it: it is never sent anywhere. */
  private downloadKey(): void {
    if (!this.keyPair) return;
    const blob = new Blob([identityFileText(this.keyPair)], { type: 'text/plain' });
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = `civibackup-key-${this.keyPair.createdAt.slice(0, 10)}.txt`;
    link.style.display = 'none';
    this.renderRoot.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0);
    this.keyPair = { ...this.keyPair, identity: '' };
    this.keyDownloaded = true;
    if (this.submitted) this.errors = this.validate();
  }

  private renderEncryption(c: BackupConfig): TemplateResult {
    const pair = this.keyPair;
    return html`<fieldset>
      <legend>${ts('Encryption')}</legend>
      <div class="field">
        <label for="recipients">${ts('Public keys (age recipients), one per line')}</label>
        <textarea
          id="recipients"
          rows="3"
          spellcheck="false"
          .value=${this.recipientsText}
          aria-invalid=${this.errors['recipients'] ? 'true' : 'false'}
          aria-describedby=${this.describedBy('recipients', true)}
          @input=${(e: Event) => {
            this.recipientsText = (e.target as HTMLTextAreaElement).value;
            this.edit((d) => (d.recipients = splitList(this.recipientsText)));
          }}
        ></textarea>
        ${this.messages(
          'recipients',
          c.recipients.length
            ? ts('Backups are encrypted to every key listed; any one of the matching secret keys opens them.')
            : ts('Empty: backups are not encrypted. Add a key so that a stolen backup cannot be read.'),
        )}
      </div>
      <div class="row">
        <button type="button" id="generateKey" aria-describedby=${this.describedBy('generateKey', true)} @click=${() => void this.generateKey()}>
          ${ts('Generate a key pair in this browser')}
        </button>
        <span class="help" id="generateKey-help">${ts('The secret key is made here and offered once as a download; it is never sent to the server.')}</span>
      </div>
      ${this.errors['generateKey'] ? html`<p class="error" id="generateKey-error">${this.errors['generateKey']}</p>` : nothing}
      ${this.keyError ? html`<p class="alert error" role="alert">${this.keyError}</p>` : nothing}
      ${pair
        ? html`<div class="alert ${this.keyDownloaded ? 'success' : 'warning'}" role="status" data-testid="key-panel">
            <p>${ts('New public key, added to the list above:')} <code class="key">${pair.recipient}</code></p>
            ${this.keyDownloaded
              ? html`<p>
                  <strong>${ts('\u2714\uFE0E Secret key downloaded.')}</strong>
                  ${ts('It exists nowhere else: keep it safe, away from this server. Without it, backups encrypted to this key cannot be restored.')}
                </p>`
              : html`<p><strong>${ts('\u26A0\uFE0E Download the secret key now: it is offered only once.')}</strong></p>
                  <button type="button" class="primary" @click=${() => this.downloadKey()}>${ts('Download secret key')}</button>`}
          </div>`
        : nothing}
    </fieldset>`;
  }

  private async testDestination(index: number): Promise<void> {
    const dest = this.draft?.offsite[index];
    if (!dest) return;
    this.destinationTests = { ...this.destinationTests, [index]: { pending: true } };
    try {
      const result = await this.api.testDestination(dest);
      this.destinationTests = { ...this.destinationTests, [index]: { pending: false, result } };
    } catch (error) {
      this.destinationTests = {
        ...this.destinationTests,
        [index]: { pending: false, error: error instanceof Error ? error.message : String(error) },
      };
    }
  }

  /** S3 "path-style" URLs (endpoint/bucket/key): MinIO, Ceph and most self-hosted servers need them. */
  private pathStyleField(i: number, dest: OffsiteConfig): TemplateResult {
    const id = `offsite-${i}-forcePathStyle`;
    return html`<div class="field inline">
      <input
        type="checkbox"
        id=${id}
        .checked=${isTrueOption(dest.options['forcePathStyle'])}
        aria-describedby="${id}-help"
        @change=${(e: Event) => this.edit((d) => (d.offsite[i].options['forcePathStyle'] = (e.target as HTMLInputElement).checked ? '1' : '0'))}
      />
      <label for=${id}>${ts('Path-style addressing')}</label>
      <span class="help" id="${id}-help">${ts('Needed by MinIO, Ceph and most self-hosted S3 servers (the bucket goes in the URL path); leave off for Amazon S3.')}</span>
    </div>`;
  }

  private renderOffsite(c: BackupConfig): TemplateResult {
    return html`<fieldset>
      <legend>${ts('Offsite copies')}</legend>
      ${c.offsite.length === 0 ? html`<p class="help">${ts('No offsite destination: sets stay on this server only.')}</p>` : nothing}
      ${c.offsite.map((dest, i) => {
        const prefix = `offsite-${i}-`;
        const test = this.destinationTests[i];
        const secretId = `${prefix}secret`;
        const secretLabel = dest.type === 's3' ? ts('Secret access key') : ts('Private key (OpenSSH or PEM)');
        return html`<div class="dest" role="group" aria-label=${ts('Offsite destination %1', { 1: dest.name || i + 1 })}>
          ${this.textField(`${prefix}name`, ts('Name'), dest.name, (v) => this.edit((d) => (d.offsite[i].name = v)))}
          <div class="field">
            <label for="${prefix}type">${ts('Type')}</label>
            <select
              id="${prefix}type"
              .value=${dest.type}
              aria-invalid=${this.errors[`${prefix}type`] ? 'true' : 'false'}
              aria-describedby=${this.describedBy(`${prefix}type`, false)}
              @change=${(e: Event) => this.edit((d) => (d.offsite[i].type = (e.target as HTMLSelectElement).value as OffsiteConfig['type']))}
            >
              <option value="s3" ?selected=${dest.type === 's3'}>${ts('S3-compatible object storage')}</option>
              <option value="sftp" ?selected=${dest.type === 'sftp'}>${ts('SFTP server')}</option>
            </select>
            ${this.messages(`${prefix}type`)}
          </div>
          ${OFFSITE_FIELDS[dest.type].map(({ key, label, help }) =>
            this.textField(`${prefix}${key}`, label(), dest.options[key] ?? '', (v) => this.edit((d) => (d.offsite[i].options[key] = v)), {
              help: help?.(),
            }),
          )}
          ${dest.type === 's3' ? this.pathStyleField(i, dest) : nothing}
          <div class="field">
            <label for=${secretId}>${secretLabel}</label>
            ${dest.type === 'sftp'
              ? html`<textarea
                  id=${secretId}
                  rows="2"
                  spellcheck="false"
                  autocomplete="off"
                  .value=${dest.secret ?? ''}
                  placeholder=${dest.hasSecret ? ts('stored (type to replace)') : ''}
                  aria-invalid=${this.errors[secretId] ? 'true' : 'false'}
                  aria-describedby=${this.describedBy(secretId, true)}
                  @input=${(e: Event) => this.edit((d) => (d.offsite[i].secret = (e.target as HTMLTextAreaElement).value))}
                ></textarea>`
              : html`<input
                  id=${secretId}
                  type="password"
                  autocomplete="new-password"
                  .value=${dest.secret ?? ''}
                  placeholder=${dest.hasSecret ? ts('stored (type to replace)') : ''}
                  aria-invalid=${this.errors[secretId] ? 'true' : 'false'}
                  aria-describedby=${this.describedBy(secretId, true)}
                  @input=${(e: Event) => this.edit((d) => (d.offsite[i].secret = (e.target as HTMLInputElement).value))}
                />`}
            ${this.messages(
              secretId,
              dest.hasSecret
                ? ts('A secret is stored. It is never shown again; leave empty to keep it.')
                : ts('Stored on the server for the helper; never shown again after saving.'),
            )}
          </div>
          <div class="row">
            <button type="button" ?disabled=${test?.pending} @click=${() => void this.testDestination(i)}>
              ${test?.pending ? ts('Testing\u2026') : ts('Test connection')}
            </button>
            <button type="button" class="link" @click=${() => this.edit((d) => d.offsite.splice(i, 1))}>
              ${ts('Remove this destination')}
            </button>
            <span role="status" aria-live="polite">
              ${test?.result
                ? html`<span class=${test.result.ok ? '' : 'error'}
                    >${test.result.ok ? ts('\u2714\uFE0E Connection works: %1', { 1: test.result.message }) : ts('Connection failed: %1', { 1: test.result.message })}</span
                  >`
                : test?.error
                  ? html`<span class="error">${ts('Could not test: %1', { 1: test.error })}</span>`
                  : nothing}
            </span>
          </div>
        </div>`;
      })}
      <button
        type="button"
        @click=${() => this.edit((d) => d.offsite.push({ name: d.offsite.length ? `offsite-${d.offsite.length + 1}` : 'offsite', type: 's3', options: {} }))}
      >
        ${ts('Add an offsite destination')}
      </button>
    </fieldset>`;
  }

  private renderAlerts(c: BackupConfig): TemplateResult {
    return html`<fieldset>
      <legend>${ts('Alerts')}</legend>
      <div class="field">
        <label for="alertEmails">${ts('E-mail addresses to alert, one per line')}</label>
        <textarea
          id="alertEmails"
          rows="2"
          .value=${this.emailsText}
          aria-invalid=${this.errors['alertEmails'] ? 'true' : 'false'}
          aria-describedby=${this.describedBy('alertEmails', true)}
          @input=${(e: Event) => {
            this.emailsText = (e.target as HTMLTextAreaElement).value;
            this.edit((d) => (d.alertEmails = splitList(this.emailsText, true)));
          }}
        ></textarea>
        ${this.messages('alertEmails', ts('They hear about failed runs and about backups older than the limit below.'))}
      </div>
      <div class="field">
        <label for="maxAgeHours">${ts('Warn when the newest complete backup is older than (hours)')}</label>
        <input
          id="maxAgeHours"
          type="number"
          min="1"
          step="1"
          .value=${String(c.maxAgeHours)}
          aria-invalid=${this.errors['maxAgeHours'] ? 'true' : 'false'}
          aria-describedby=${this.describedBy('maxAgeHours', false)}
          @input=${(e: Event) => this.edit((d) => (d.maxAgeHours = Number((e.target as HTMLInputElement).value)))}
        />
        ${this.messages('maxAgeHours')}
      </div>
    </fieldset>`;
  }

  private renderSchedule(c: BackupConfig): TemplateResult {
    return html`<fieldset>
      <legend>${ts('Schedule')}</legend>
      ${this.checkbox('scheduleActive', ts('Run backups automatically (CiviCRM scheduled job)'), c.schedule.active, (v) =>
        this.edit((d) => (d.schedule.active = v)),
      )}
      <div class="field">
        <label for="frequency">${ts('How often')}</label>
        <select
          id="frequency"
          .value=${c.schedule.frequency}
          aria-invalid=${this.errors['frequency'] ? 'true' : 'false'}
          aria-describedby=${this.describedBy('frequency', false)}
          @change=${(e: Event) =>
            this.edit((d) => (d.schedule.frequency = (e.target as HTMLSelectElement).value as BackupConfig['schedule']['frequency']))}
        >
          ${(['Hourly', 'Daily', 'Weekly', 'Monthly'] as const).map(
            (f) => html`<option value=${f} ?selected=${c.schedule.frequency === f}>${ts(f)}</option>`,
          )}
        </select>
        ${this.messages('frequency')}
      </div>
      ${this.textField('nodePath', ts('Path to Node.js (optional)'), c.nodePath, (v) => this.edit((d) => (d.nodePath = v)), {
        help: ts('Leave empty to use node from the PATH. Node.js 20 or newer is needed.'),
        placeholder: '/usr/bin/node',
      })}
    </fieldset>`;
  }

  private async save(event: Event): Promise<void> {
    event.preventDefault();
    if (!this.draft) return;
    this.submitted = true;
    this.saveError = '';
    this.saveMessage = '';
    this.errors = this.validate();
    const invalid = Object.keys(this.errors);
    if (invalid.length) {
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>('[aria-invalid="true"], #generateKey[aria-describedby*="error"]')?.focus();
      return;
    }
    this.saving = true;
    try {
      const payload = structuredClone(this.draft);
      // Secrets are write-only: send one only when the administrator typed a new one.
      payload.sourceId = payload.sourceId.trim();
      payload.offsite = payload.offsite.map(({ secret, ...rest }) => (secret ? { ...rest, secret } : rest));
      const saved = await this.api.saveConfig(payload);
      this.adopt(saved);
      this.submitted = false;
      this.saveMessage = ts('Settings saved.');
      notify(this.saveMessage, ts('Backups'));
      this.dispatchEvent(pageEvent(CONFIG_SAVED, {}));
    } catch (error) {
      this.saveError = error instanceof Error ? error.message : String(error);
      // The server names each invalid field in a CONFIG rejection: show those next to their fields too.
      const fieldErrors = error instanceof ApiError && error.code === 'CONFIG' ? serverFieldErrors(error.message) : {};
      if (Object.keys(fieldErrors).length) {
        this.errors = fieldErrors;
        await this.updateComplete;
        this.renderRoot.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      }
    } finally {
      this.saving = false;
    }
  }

  private renderForm(c: BackupConfig): TemplateResult {
    const errorCount = Object.keys(this.errors).length;
    return html`<form novalidate @submit=${(e: Event) => void this.save(e)}>
      ${this.submitted && errorCount
        ? html`<div class="alert error" role="alert" data-testid="error-summary">
            ${errorCount === 1 ? ts('One field needs attention; the message is next to it.') : ts('%1 fields need attention; each message is next to its field.', { 1: errorCount })}
          </div>`
        : nothing}
      ${this.renderIncluded(c)} ${this.renderDestination(c)} ${this.renderRetention(c)} ${this.renderEncryption(c)} ${this.renderOffsite(c)}
      ${this.renderAlerts(c)} ${this.renderSchedule(c)}
      <div class="save-bar">
        <button type="submit" class="primary" ?disabled=${this.saving || !this.canAdminister}>${this.saving ? ts('Saving\u2026') : ts('Save settings')}</button>
        <span role="status" aria-live="polite">${this.saveMessage}</span>
      </div>
      ${this.saveError ? html`<div class="alert error" role="alert"><strong>${ts('The settings were not saved.')}</strong> ${this.saveError}</div>` : nothing}
    </form>`;
  }

  override render() {
    return html`<h2>${ts('Settings')}</h2>
      ${this.configTask.render({
        pending: () => html`<p aria-busy="true">${ts('Loading\u2026')}</p>`,
        error: (error) => html`<div class="alert error" role="alert">
          <strong>${ts('Could not load the settings.')}</strong>
          <div>${error instanceof Error ? error.message : String(error)}</div>
          <button type="button" @click=${() => void this.configTask.run()}>${ts('Try again')}</button>
        </div>`,
        complete: () => (this.draft ? this.renderForm(this.draft) : nothing),
      })}`;
  }
}
