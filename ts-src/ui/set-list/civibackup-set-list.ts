/**
 * The complete backup sets: when, how big, encrypted or not, where, whose (this site's or
 * another source's, when a destination is shared) and how far each has been proven (as text
 * plus an icon, never colour alone). Per set: verify checksums, test restore (deep verify
 * into the scratch database), restore (the restore dialog; only for those who may administer
 * backups), delete (confirmed in a modal dialog; never the newest set of a source), and the
 * commands to restore it by hand. When the sets cannot be listed it says why, once.
 *
 * @fires civibackup-sets-changed - after a delete, a verification or a restore changed the list
 */
import { LitElement, html, css, nothing } from 'lit';
import { property, state } from 'lit/decorators.js';
import { Task } from '@lit/task';
import type { SetSummary } from '../../protocol/sets.js';
import { BackupApi, describeError } from '../api/crm-api.js';
import { DEFAULT_POLL_INTERVAL_MS } from '../boot.js';
import { ts } from '../i18n.js';
import { extractAgeIdentity } from '../shared/age-keys.js';
import { renderKeyFields } from '../shared/key-fields.js';
import { SETS_CHANGED, pageEvent, type RunFinishedDetail } from '../shared/events.js';
import { formatBytes, formatDateTime } from '../shared/format.js';
import { sourceLabel, verificationLabel } from '../shared/labels.js';
import { alertStyles, baseStyles, buttonStyles, dialogStyles, formStyles, tableStyles } from '../shared/styles.js';
import { renderSetsUnknown, setsUnknownFrom } from '../shared/sets-unknown.js';
import type { CivibackupRestoreDialog } from '../restore-dialog/civibackup-restore-dialog.js';
import '../set-detail/define.js';
import '../run-progress/define.js';
import '../restore-dialog/define.js';

type RowAction = 'verify' | 'deep' | 'delete';

export class CivibackupSetList extends LitElement {
  static override styles = [
    baseStyles,
    buttonStyles,
    alertStyles,
    tableStyles,
    formStyles,
    dialogStyles,
    css`
      /* The list's own width, not the viewport's, decides the layout: the page may sit beside
         CiviCRM's side menu or in a narrow column on a wide screen. */
      :host {
        container: set-list / inline-size;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.35rem;
      }
      .state-restorable {
        color: var(--crm-c-success-on-page-bg, #2e562e);
      }
      .state-damaged {
        color: var(--crm-c-danger-on-page-bg, #5d0d20);
        font-weight: 600;
      }
      td.num,
      td.date {
        white-space: nowrap;
      }
      /* Set ids and paths have no spaces; without this they set the table's minimum width. */
      .set-id,
      td.where,
      td.source {
        overflow-wrap: anywhere;
      }
      /* The column name inside each cell, for the stacked layout below (the header row is
         beside the cells in the table layout). aria-hidden: screen readers already get the
         column header from the table. */
      .cell-label {
        display: none;
      }
      /* Phone width: six columns do not fit, so each set becomes a card of label/value lines.
         The elements stay a table (header kept for screen readers, only visually hidden), so
         the accessible names, the reading order and the tab order do not change. */
      @container set-list (max-width: 44rem) {
        table,
        tbody,
        tr,
        td {
          display: block;
        }
        thead {
          position: absolute;
          width: 1px;
          height: 1px;
          overflow: hidden;
          clip: rect(0 0 0 0);
          white-space: nowrap;
        }
        tbody tr {
          border-bottom: var(--crm-table-header-bottom, 2px solid #c2c0c0);
          padding-block: 0.25rem;
        }
        td {
          border-bottom: none;
          position: relative;
          padding-inline-start: 7.5rem;
          min-height: 1.5em;
        }
        td.num {
          text-align: start;
        }
        td.date {
          white-space: normal;
        }
        .cell-label {
          display: block;
          position: absolute;
          inset-inline-start: 0.5rem;
          width: 6.5rem;
          font-weight: 600;
          overflow-wrap: anywhere;
        }
        tr.detail td {
          padding-inline-start: 0.5rem;
        }
      }
      .small {
        font-size: var(--crm-small-font-size, 0.85em);
      }
      tr.detail td {
        background: var(--crm-c-background, #f4f4ed);
      }
    `,
  ];

  @property({ attribute: false }) api = new BackupApi();
  @property({ type: Boolean, attribute: 'can-administer' }) canAdminister = false;
  /** How often runs followed from this list (the restore dialog's) are polled. */
  @property({ type: Number, attribute: 'poll-interval-ms' }) pollIntervalMs = DEFAULT_POLL_INTERVAL_MS;

  /** setId of the set whose detail row is open. */
  @state() private openSetId = '';
  /** setId -> action in flight. */
  @state() private busy: Record<string, RowAction> = {};
  /** Last action's result, announced politely. */
  @state() private message = '';
  @state() private actionError = '';
  @state() private deleteCandidate: SetSummary | null = null;
  /** An encrypted set waiting for its secret key before a test restore. */
  @state() private keyCandidate: SetSummary | null = null;
  @state() private keyText = '';
  @state() private keyError = '';
  /** The verification being followed (one at a time: the helper holds a lock). */
  @state() private activeRun: { runId: string; setId: string; action: RowAction; finished: boolean } | null = null;

  private readonly setsTask = new Task(this, {
    task: async () => {
      const sets = await this.api.sets();
      return [...sets].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    },
    args: () => [],
  });

  refresh(): void {
    void this.setsTask.run();
  }

  private describe(action: RowAction, setId: string, phase: 'start' | 'done'): string {
    if (action === 'delete') return phase === 'start' ? ts('Deleting %1\u2026', { 1: setId }) : ts('Deleted %1.', { 1: setId });
    if (action === 'deep') {
      return phase === 'start' ? ts('Test-restoring %1 into the scratch database\u2026', { 1: setId }) : ts('Test restore of %1 finished.', { 1: setId });
    }
    return phase === 'start' ? ts('Verifying checksums of %1\u2026', { 1: setId }) : ts('Checksums of %1 checked.', { 1: setId });
  }

  private failure(action: RowAction, setId: string, reason: string): string {
    return ts('%1 failed for %2: %3', {
      1: action === 'delete' ? ts('Delete') : action === 'deep' ? ts('Test restore') : ts('Verify'),
      2: setId,
      3: reason,
    });
  }

  private async runAction(set: SetSummary, action: RowAction, identity?: string): Promise<void> {
    this.busy = { ...this.busy, [set.setId]: action };
    this.actionError = '';
    this.message = this.describe(action, set.setId, 'start');
    try {
      if (action === 'delete') {
        await this.api.delete({ setId: set.setId });
        this.finishAction(set.setId, action, null);
        return;
      }
      const record = await this.api.verify({ setId: set.setId, deep: action === 'deep', async: true, ...(identity ? { identity } : {}) });
      if (record.result) {
        // The server ran it attached and already has the final event.
        this.finishAction(set.setId, action, record.result.type === 'error' ? `${record.result.message} ${record.result.hint}` : null);
      } else {
        this.activeRun = { runId: record.runId, setId: set.setId, action, finished: false };
      }
    } catch (error) {
      this.message = '';
      this.actionError = this.failure(action, set.setId, describeError(error));
      this.clearBusy(set.setId);
    }
  }

  private clearBusy(setId: string): void {
    const rest = { ...this.busy };
    delete rest[setId];
    this.busy = rest;
  }

  /** Ends an action: announces it, tells the page, reloads the list. `problem` null = success. */
  private finishAction(setId: string, action: RowAction, problem: string | null): void {
    this.clearBusy(setId);
    if (problem) {
      this.message = '';
      this.actionError = this.failure(action, setId, problem);
    } else {
      this.message = this.describe(action, setId, 'done');
    }
    this.dispatchEvent(pageEvent(SETS_CHANGED, { reason: action === 'delete' ? 'deleted' : 'verified', setId }));
    this.refresh();
  }

  private onRunFinished(event: CustomEvent<RunFinishedDetail>): void {
    const run = this.activeRun;
    if (!run || event.detail.runId !== run.runId) return;
    this.activeRun = { ...run, finished: true };
    const last = event.detail.lastEvent;
    // The run report below shows the details; the status line and the list summarise.
    this.finishAction(run.setId, run.action, event.detail.outcome === 'done' ? null : last?.type === 'error' ? last.message : ts('see the run report'));
  }

  private askTestRestore(set: SetSummary): void {
    if (!set.encrypted) {
      void this.runAction(set, 'deep');
      return;
    }
    this.keyCandidate = set;
    this.keyText = '';
    this.keyError = '';
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLDialogElement>('dialog#key-dialog')?.showModal());
  }

  private closeKeyDialog(confirmed: boolean): void {
    const set = this.keyCandidate;
    if (confirmed && set) {
      const identity = extractAgeIdentity(this.keyText);
      if (!identity) {
        this.keyError = ts('That is not an age secret key. Paste the line that starts with AGE-SECRET-KEY-1, or load the key file.');
        return;
      }
      this.keyText = '';
      void this.runAction(set, 'deep', identity);
    }
    this.renderRoot.querySelector<HTMLDialogElement>('dialog#key-dialog')?.close();
    this.keyCandidate = null;
    this.keyText = '';
  }

  private askDelete(set: SetSummary): void {
    this.deleteCandidate = set;
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLDialogElement>('dialog#delete-dialog')?.showModal());
  }

  private closeDialog(confirmed: boolean): void {
    const set = this.deleteCandidate;
    this.renderRoot.querySelector<HTMLDialogElement>('dialog#delete-dialog')?.close();
    this.deleteCandidate = null;
    if (confirmed && set) void this.runAction(set, 'delete');
  }

  private renderVerification(set: SetSummary) {
    const label = verificationLabel(set.verification.state);
    return html`<span class="state-${set.verification.state}"
        ><span aria-hidden="true">${label.icon}</span> ${label.text}</span
      >${set.verification.state !== 'unverified'
        ? html`<div class="small muted">${formatDateTime(set.verification.at)}</div>`
        : nothing}${set.verification.detail ? html`<div class="small">${set.verification.detail}</div>` : nothing}`;
  }

  private openRestore(set: SetSummary, event: Event): void {
    void this.renderRoot.querySelector<CivibackupRestoreDialog>('civibackup-restore-dialog')?.open(set, event.currentTarget as HTMLElement);
  }

  /** A set's source for display, with "this site" when the helper said so. */
  private renderSource(set: SetSummary) {
    return html`${sourceLabel(set.source)}${set.thisSite ? html` <strong data-testid="this-site">${ts('(this site)')}</strong>` : nothing}`;
  }

  private renderRow(set: SetSummary, newest: boolean, showSource: boolean, manySources: boolean) {
    const busy = this.busy[set.setId];
    const open = this.openSetId === set.setId;
    // One verification at a time: the helper holds a lock while it runs.
    const running = this.activeRun !== null && !this.activeRun.finished;
    const disabled = !this.canAdminister || busy !== undefined;
    const verifyDisabled = disabled || running;
    const label = (text: string) => html`<span class="cell-label" aria-hidden="true">${text}</span>`;
    return html`<tr>
        <td class="date">${label(ts('Date'))}${formatDateTime(set.createdAt)}<div class="small muted set-id">${set.setId}</div>${set.trigger === 'safety-before-restore'
            ? html`<div class="small" data-testid="safety-mark">${ts('Safety backup taken before a restore')}</div>`
            : nothing}</td>
        ${showSource ? html`<td class="source">${label(ts('Source'))}${this.renderSource(set)}</td>` : nothing}
        <td class="num">${label(ts('Size'))}${formatBytes(set.referencedBytes ?? set.bytes)}</td>
        <td class="num">${label(ts('Added'))}${formatBytes(set.addedBytes ?? set.bytes)}</td>
        <td>${label(ts('Encrypted'))}${set.encrypted ? ts('Yes') : ts('No')}</td>
        <td class="where">${label(ts('Where'))}<span class="small">${set.location}</span></td>
        <td>${label(ts('Verified'))}${this.renderVerification(set)}</td>
        <td>
          ${label(ts('Actions'))}
          <div class="actions">
            <button type="button" ?disabled=${verifyDisabled} @click=${() => void this.runAction(set, 'verify')}
              aria-label=${ts('Verify checksums of %1', { 1: set.setId })}>
              ${busy === 'verify' ? ts('Verifying\u2026') : ts('Verify')}
            </button>
            <button type="button" ?disabled=${verifyDisabled} @click=${() => this.askTestRestore(set)}
              aria-label=${ts('Test restore %1', { 1: set.setId })}>
              ${busy === 'deep' ? ts('Testing\u2026') : ts('Test restore')}
            </button>
            ${this.canAdminister
              ? html`<button type="button" ?disabled=${running || busy !== undefined} aria-haspopup="dialog" @click=${(e: Event) => this.openRestore(set, e)}
                  aria-label=${ts('Restore %1\u2026', { 1: set.setId })}>
                  ${ts('Restore\u2026')}
                </button>`
              : nothing}
            <button type="button" aria-expanded=${open ? 'true' : 'false'} aria-controls="detail-${set.setId}"
              aria-label=${ts('Restore commands for %1', { 1: set.setId })}
              @click=${() => (this.openSetId = open ? '' : set.setId)}>
              ${ts('Restore commands')}
            </button>
            ${newest
              ? html`<span class="small muted">${manySources ? ts('Newest set of its source: cannot be deleted') : ts('Newest set: cannot be deleted')}</span>`
              : html`<button type="button" class="danger" ?disabled=${disabled} @click=${() => this.askDelete(set)}
                  aria-label=${ts('Delete %1', { 1: set.setId })}>
                  ${busy === 'delete' ? ts('Deleting\u2026') : ts('Delete')}
                </button>`}
          </div>
        </td>
      </tr>
      ${open
        ? html`<tr class="detail" id="detail-${set.setId}">
            <td colspan=${showSource ? 8 : 7}><civibackup-set-detail .set=${set} .api=${this.api}></civibackup-set-detail></td>
          </tr>`
        : nothing}`;
  }

  private renderTable(sets: SetSummary[]) {
    if (sets.length === 0) return html`<p>${ts('There are no complete backup sets yet.')}</p>`;
    // Several sites, or copies of one, may write to one destination: then say so and show whose
    // each set is, marking this site's. Sets all of one source that is not this site's (a copy
    // of the site on a new server, say) show their source too.
    const sources = new Set(sets.map((s) => s.source ?? ''));
    const manySources = sources.size > 1;
    const showSource = manySources || sets.some((s) => s.thisSite === false);
    // Retention keeps each source's newest set, and so does delete.
    const newestOfSource = new Set<string>();
    const seen = new Set<string>();
    for (const set of sets) {
      if (seen.has(set.source ?? '')) continue;
      seen.add(set.source ?? '');
      newestOfSource.add(set.setId);
    }
    return html`${manySources
        ? html`<div class="alert info" data-testid="sources-note">
            ${ts('These sets come from %1 sources: another site or a copy of this one writes to the same destination, or this server\u2019s host name or database changed. Each backup\u2019s retention only counts and removes the sets of its own source and leaves the others alone. A source name in the settings (Retention) tells copies of one site apart.', { 1: sources.size })}
          </div>`
        : showSource
        ? html`<div class="alert info" data-testid="sources-note">
            ${ts('These sets come from another source than this site (another server, database or source name): retention of this site\u2019s backups leaves them alone.')}
          </div>`
        : nothing}
      <table>
      <caption class="visually-hidden">${ts('Backup sets, newest first')}</caption>
      <thead>
        <tr>
          <th scope="col">${ts('Date')}</th>
          ${showSource ? html`<th scope="col">${ts('Source')}</th>` : nothing}
          <th scope="col" class="num" title=${ts('What restoring the set reads, pieces shared with other sets included')}>${ts('Size')}</th>
          <th scope="col" class="num" title=${ts('What the set added to the destination: pieces no earlier set had')}>${ts('Added')}</th>
          <th scope="col">${ts('Encrypted')}</th>
          <th scope="col">${ts('Where')}</th>
          <th scope="col">${ts('Verified')}</th>
          <th scope="col">${ts('Actions')}</th>
        </tr>
      </thead>
      <tbody>
        ${sets.map((s) => this.renderRow(s, newestOfSource.has(s.setId), showSource, manySources))}
      </tbody>
    </table>`;
  }

  private renderKeyDialog() {
    const set = this.keyCandidate;
    return html`<dialog id="key-dialog" aria-labelledby="key-h" aria-describedby="key-d" @cancel=${(e: Event) => {
      e.preventDefault();
      this.closeKeyDialog(false);
    }}>
      ${set
        ? html`<h3 id="key-h">${ts('Secret key needed')}</h3>
            <div class="body">
              <p id="key-d">
                ${ts('Set %1 is encrypted. A test restore decrypts it, so it needs the secret key. The key is handed to this one run in memory; it is not stored on the server.', { 1: set.setId })}
              </p>
              ${renderKeyFields({
                prefix: 'key',
                text: this.keyText,
                error: this.keyError,
                onText: (text) => {
                  this.keyText = text;
                  this.keyError = '';
                },
              })}
              <div class="buttons">
                <button type="button" @click=${() => this.closeKeyDialog(false)}>${ts('Cancel')}</button>
                <button type="button" class="primary" ?disabled=${!this.keyText.trim()} @click=${() => this.closeKeyDialog(true)}>
                  ${ts('Start test restore')}
                </button>
              </div>
            </div>`
        : nothing}
    </dialog>`;
  }

  override render() {
    const candidate = this.deleteCandidate;
    return html`
      <h2>${ts('Backup sets')}</h2>
      <p role="status" aria-live="polite" class="muted">${this.message}</p>
      ${this.actionError ? html`<div class="alert error" role="alert" data-testid="action-error">\u2716\uFE0E ${this.actionError}</div>` : nothing}
      ${this.activeRun
        ? html`<civibackup-run-progress
              kind="verify"
              .api=${this.api}
              run-id=${this.activeRun.runId}
              @civibackup-run-finished=${(e: CustomEvent<RunFinishedDetail>) => this.onRunFinished(e)}
            ></civibackup-run-progress>
            ${this.activeRun.finished
              ? html`<button type="button" @click=${() => (this.activeRun = null)}>${ts('Close run report')}</button>`
              : nothing}`
        : nothing}
      ${this.setsTask.render({
        pending: () => html`<p aria-busy="true">${ts('Loading\u2026')}</p>`,
        error: (error) => renderSetsUnknown(setsUnknownFrom(error), () => this.refresh()),
        complete: (sets) => this.renderTable(sets),
      })}
      ${this.renderKeyDialog()}
      <civibackup-restore-dialog .api=${this.api} .pollIntervalMs=${this.pollIntervalMs} @civibackup-sets-changed=${() => this.refresh()}></civibackup-restore-dialog>
      <dialog id="delete-dialog" aria-labelledby="delete-h" aria-describedby="delete-d" @cancel=${(e: Event) => {
        e.preventDefault();
        this.closeDialog(false);
      }}>
        ${candidate
          ? html`<h3 id="delete-h">${ts('Delete this backup set?')}</h3>
              <div class="body">
                <p id="delete-d">
                  ${candidate.format === 2
                    ? ts('Set %1 from %2 will be removed for good. Other sets are not affected: pieces they share with it stay. Up to %3 (what it added) is freed.', {
                        1: candidate.setId,
                        2: formatDateTime(candidate.createdAt),
                        3: formatBytes(candidate.addedBytes ?? candidate.bytes),
                      })
                    : ts('Set %1 from %2 (%3) will be removed for good. Other sets are not affected.', {
                        1: candidate.setId,
                        2: formatDateTime(candidate.createdAt),
                        3: formatBytes(candidate.bytes),
                      })}
                </p>
                <div class="buttons">
                  <button type="button" autofocus @click=${() => this.closeDialog(false)}>${ts('Keep it')}</button>
                  <button type="button" class="danger" @click=${() => this.closeDialog(true)}>${ts('Delete set')}</button>
                </div>
              </div>`
          : nothing}
      </dialog>
    `;
  }
}
