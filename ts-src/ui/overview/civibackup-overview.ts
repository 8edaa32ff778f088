/**
 * The first screen: is there a recent complete backup, has one been proven restorable, when
 * is the next run, how much space is used, and what do the status checks say. One primary
 * action: "Back up now", which starts Backup.run {async: true} and follows it live.
 * When the sets could not be listed (OverviewRecord.setList unknown: Node.js missing, the
 * helper failed) the figures are unknown, not "none": one notice above the cards says why and
 * what to do (shared/sets-unknown.ts), and the cards and storage figures say "Unknown".
 *
 * @fires civibackup-run-started - after Backup.run returned a run id
 */
import { LitElement, html, css, nothing } from 'lit';
import { property, state } from 'lit/decorators.js';
import { Task } from '@lit/task';
import { setListOf, type OverviewRecord } from '../../protocol/api.js';
import { BackupApi, describeError } from '../api/crm-api.js';
import { DEFAULT_POLL_INTERVAL_MS } from '../boot.js';
import { ts } from '../i18n.js';
import { RUN_FINISHED, RUN_STARTED, pageEvent } from '../shared/events.js';
import { formatAge, formatBytes, formatDateTime, formatDuration } from '../shared/format.js';
import { verificationLabel } from '../shared/labels.js';
import { renderSetsUnknown } from '../shared/sets-unknown.js';
import { alertStyles, baseStyles, buttonStyles, tableStyles } from '../shared/styles.js';
import '../run-progress/define.js';

const LEVEL_ICON: Record<string, string> = { critical: '\u2716\uFE0E', error: '\u2716\uFE0E', warning: '\u26A0\uFE0E', notice: '\u2139\uFE0E', info: '\u2139\uFE0E' };

export class CivibackupOverview extends LitElement {
  static override styles = [
    baseStyles,
    buttonStyles,
    alertStyles,
    tableStyles,
    css`
      .cards {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr));
        gap: 0.75rem;
        margin-block-end: 0.75rem;
      }
      .card {
        background: var(--crm-panel-background, var(--crm-c-page-background, #fff));
        border: var(--crm-panel-border, 1px solid #c2c0c0);
        border-radius: var(--crm-roundness, 4px);
        padding: 0.6rem 0.75rem;
      }
      .card h3 {
        margin-top: 0;
        font-size: 1em;
      }
      .big {
        font-size: 1.3em;
        font-weight: 600;
        margin: 0;
      }
      .actions {
        display: flex;
        gap: 0.75rem;
        align-items: center;
        margin: 0.75rem 0;
      }
    `,
  ];

  @property({ attribute: false }) api = new BackupApi();
  @property({ type: Number, attribute: 'poll-interval-ms' }) pollIntervalMs = DEFAULT_POLL_INTERVAL_MS;
  @property({ type: Boolean, attribute: 'can-administer' }) canAdminister = false;
  /** Reference time for "3 hours ago" (tests and screenshots pin it). */
  @property({ attribute: false }) now: Date | null = null;

  @state() private runId = '';
  @state() private starting = false;
  @state() private startError = '';
  /** The followed run has ended; its report stays until dismissed or a new run starts. */
  @state() private runIdFinished = false;

  private readonly overviewTask = new Task(this, {
    task: async () => {
      const overview = await this.api.overview();
      if (overview.runningRunId && !this.runId) this.runId = overview.runningRunId;
      return overview;
    },
    args: () => [],
  });

  /** Reloads the figures (after a run, a delete, a settings change). */
  refresh(): void {
    void this.overviewTask.run();
  }

  private async backUpNow(): Promise<void> {
    this.starting = true;
    this.startError = '';
    try {
      const record = await this.api.run({ async: true });
      this.runId = record.runId;
      this.runIdFinished = false;
      this.dispatchEvent(pageEvent(RUN_STARTED, { runId: record.runId }));
    } catch (error) {
      this.startError = describeError(error);
    } finally {
      this.starting = false;
    }
  }

  private onRunFinished(): void {
    this.refresh();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.addEventListener(RUN_FINISHED, this.onRunFinished);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.removeEventListener(RUN_FINISHED, this.onRunFinished);
  }

  /** A card's body while the sets are unknown; why, and what to do, is said once above the cards. */
  private renderUnknownCard() {
    return html`<p class="big">${ts('Unknown')}</p>
      <p class="muted">${ts('The backup sets could not be listed (see above).')}</p>`;
  }

  private renderCards(o: OverviewRecord) {
    const now = this.now ?? new Date();
    const setList = setListOf(o);
    const last = o.lastBackup;
    const proven = o.lastRestorable;
    const provenLabel = proven ? verificationLabel(proven.verification.state) : null;
    return html`<div class="cards">
      <section class="card" aria-labelledby="last-h">
        <h3 id="last-h">${ts('Last complete backup')}</h3>
        ${setList.state === 'unknown'
          ? this.renderUnknownCard()
          : last
          ? html`<p class="big">${formatAge(last.finishedAt, now)}</p>
              <p>${formatDateTime(last.finishedAt)}</p>
              <p>${ts('%1 in %2 parts', { 1: formatBytes(last.bytes), 2: last.parts })}${last.encrypted ? ` · ${ts('encrypted')}` : ` · ${ts('not encrypted')}`}</p>`
          : html`<p class="big">${ts('None yet')}</p>
              <p>${ts('No complete backup exists. Run one now.')}</p>`}
      </section>
      <section class="card" aria-labelledby="proven-h">
        <h3 id="proven-h">${ts('Last proven restore')}</h3>
        ${setList.state === 'unknown'
          ? this.renderUnknownCard()
          : proven && provenLabel
          ? html`<p class="big">${formatAge(proven.verification.at, now)}</p>
              <p><span aria-hidden="true">${provenLabel.icon}</span> ${provenLabel.text}</p>
              <p class="muted">${ts('Set %1', { 1: proven.setId })}</p>
              ${proven.verification.restoreSeconds !== undefined
                ? html`<p>${ts('Test restore took %1', { 1: formatDuration(proven.verification.restoreSeconds) })}</p>`
                : nothing}`
          : html`<p class="big">${ts('Never')}</p>
              <p>${ts('No backup has been test-restored yet. Use \u201cTest restore\u201d under Backup sets.')}</p>`}
      </section>
      <section class="card" aria-labelledby="next-h">
        <h3 id="next-h">${ts('Next scheduled run')}</h3>
        ${o.jobActive
          ? html`<p class="big">${o.nextScheduledRun ? formatDateTime(o.nextScheduledRun) : ts('At the next cron run')}</p>
              <p>${ts('Frequency: %1', { 1: o.jobFrequency })}</p>`
          : html`<p class="big">${ts('Not scheduled')}</p>
              <p>${ts('The scheduled job is off. Turn it on under Settings \u203a Schedule.')}</p>`}
      </section>
    </div>`;
  }

  private renderSetList(o: OverviewRecord) {
    const list = setListOf(o);
    return list.state === 'unknown' ? renderSetsUnknown(list) : nothing;
  }

  private renderStorage(o: OverviewRecord) {
    if (o.storage.length === 0) return nothing;
    // Unlisted sets are counted as 0 by PHP; showing "0" and "0 B" would say they are empty.
    const known = setListOf(o).state === 'known';
    return html`<table>
      <caption class="visually-hidden">${ts('Storage used per destination')}</caption>
      <thead>
        <tr>
          <th scope="col">${ts('Destination')}</th>
          <th scope="col" class="num">${ts('Backup sets')}</th>
          <th scope="col" class="num">${ts('Space used')}</th>
        </tr>
      </thead>
      <tbody>
        ${o.storage.map(
          (s) => html`<tr>
            <td>${s.destination}</td>
            <td class="num">${known && s.sets !== null ? s.sets : ts('Unknown')}</td>
            <td class="num">${known && s.bytes !== null ? formatBytes(s.bytes) : ts('Unknown')}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
  }

  private renderWarnings(o: OverviewRecord) {
    return o.warnings.map(
      (w) => html`<div class="alert ${w.level}" role="status">
        <strong><span aria-hidden="true">${LEVEL_ICON[w.level] ?? ''}</span> ${w.title}</strong>
        <span class="visually-hidden">${`(${ts(w.level)})`}</span>
        <div>${w.message}</div>
      </div>`,
    );
  }

  override render() {
    const running = this.runId !== '';
    return html`
      <h2>${ts('Overview')}</h2>
      <div class="actions">
        <button
          type="button"
          class="primary"
          ?disabled=${!this.canAdminister || this.starting || (running && !this.runIdFinished)}
          @click=${() => void this.backUpNow()}
        >
          ${this.starting ? ts('Starting\u2026') : ts('Back up now')}
        </button>
        ${!this.canAdminister ? html`<span class="muted">${ts('You need the \u201cadminister backups\u201d permission to start a backup.')}</span>` : nothing}
        ${this.runIdFinished ? html`<button type="button" @click=${() => this.dismissRun()}>${ts('Close run report')}</button>` : nothing}
      </div>
      ${this.startError
        ? html`<div class="alert error" role="alert" data-testid="start-error"><strong>${ts('The backup could not start.')}</strong> ${this.startError}</div>`
        : nothing}
      ${running
        ? html`<civibackup-run-progress
            .api=${this.api}
            .pollIntervalMs=${this.pollIntervalMs}
            run-id=${this.runId}
            @civibackup-run-finished=${() => (this.runIdFinished = true)}
          ></civibackup-run-progress>`
        : nothing}
      ${this.overviewTask.render({
        pending: () => html`<p aria-busy="true">${ts('Loading\u2026')}</p>`,
        error: (error) => html`<div class="alert error" role="alert">
          <strong>${ts('Could not load the overview.')}</strong>
          <div>${describeError(error)}</div>
          <button type="button" @click=${() => this.refresh()}>${ts('Try again')}</button>
        </div>`,
        complete: (o) => html`${this.renderSetList(o)}${this.renderWarnings(o)}${this.renderCards(o)}
          <h3>${ts('Storage')}</h3>
          ${this.renderStorage(o)}`,
      })}
    `;
  }

  private dismissRun(): void {
    this.runId = '';
    this.runIdFinished = false;
  }
}
