/**
 * Live view of one helper run: polls Backup.status every pollIntervalMs, folds the events
 * through the pure reducer, shows a progress bar and a short status for screen readers,
 * and offers Cancel. The outcome stays on screen with the error's "what to do". When a poll
 * is refused because the login has ended (a restore on Standalone replaces the sessions), it
 * says so and goes on asking, so the run is followed again once the person has logged in.
 *
 * @fires civibackup-run-finished - when the run has ended (detail: runId, outcome, last event)
 */
import { LitElement, html, css, nothing } from 'lit';
import { property, state } from 'lit/decorators.js';
import type { HelperEvent } from '../../protocol/events.js';
import { ApiError, BackupApi, describeError, isLoggedOut } from '../api/crm-api.js';
import { DEFAULT_POLL_INTERVAL_MS } from '../boot.js';
import { ts } from '../i18n.js';
import { RUN_FINISHED, pageEvent, type RunFinishedDetail } from '../shared/events.js';
import { formatBytes, formatDuration } from '../shared/format.js';
import { phaseLabel } from '../shared/labels.js';
import { alertStyles, baseStyles, buttonStyles } from '../shared/styles.js';
import { INITIAL_RUN_STATE, reduceRunEvents, type RunViewState } from './reducer.js';

/** While the login has ended, polls are this many times further apart. */
const LOGGED_OUT_POLL_FACTOR = 3;

export class CivibackupRunProgress extends LitElement {
  static override styles = [
    baseStyles,
    buttonStyles,
    alertStyles,
    css`
      .bar {
        height: 1.1rem;
        border: 1px solid var(--crm-c-gray-400, #adaeb3);
        border-radius: var(--crm-roundness, 4px);
        background: var(--crm-c-page-background, #fff);
        overflow: hidden;
        margin: 0.5rem 0;
      }
      .bar > div {
        height: 100%;
        background: var(--crm-c-primary, #2c6fa3);
        transition: width 0.3s;
      }
      .bar.indeterminate > div {
        width: 30%;
        opacity: 0.6;
      }
      dl {
        display: grid;
        grid-template-columns: max-content 1fr;
        gap: 0.15rem 1rem;
        margin: 0.5rem 0;
      }
      dt {
        font-weight: 600;
      }
      dd {
        margin: 0;
        font-variant-numeric: tabular-nums;
      }
      .status {
        font-weight: 600;
      }
      ul.warnings {
        margin: 0.25rem 0;
        padding-inline-start: 1.2rem;
      }
    `,
  ];

  /** The run to follow (from Backup.run or Backup.overview's runningRunId). */
  @property({ attribute: 'run-id' }) runId = '';
  @property({ type: Number, attribute: 'poll-interval-ms' }) pollIntervalMs = DEFAULT_POLL_INTERVAL_MS;
  @property({ attribute: false }) api = new BackupApi();
  /** What the run does, for its headings until the helper's start event names the command. */
  @property() kind: 'backup' | 'verify' | 'restore' = 'backup';
  /**
   * The run id was chosen by the page and the call that creates the run may still be on its
   * way: until the first event, "there is no run" (USAGE) means "starting", not lost contact.
   */
  @property({ type: Boolean, attribute: 'await-start' }) awaitStart = false;

  /** A restore's safety backup, once written (Backup.status safetySetId): restoring it undoes the restore. */
  @state() safetySetId: string | null = null;

  @state() view: RunViewState = INITIAL_RUN_STATE;
  @state() private pollError = '';
  /**
   * The last poll was refused because the login has ended (a database restore on Standalone
   * replaces the sessions): the run goes on, and polling resumes once the administrator has
   * logged in again in another tab of this browser.
   */
  @state() private loggedOut = false;
  @state() private cancelRequested = false;
  @state() private cancelError = '';
  /** The status call said done but no result or error event came (the helper died). */
  @state() private endedWithoutResult = false;

  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  private lastEvent: HelperEvent | null = null;

  /** Feeds events directly (used by the poller; also lets a host replay a recorded run). */
  applyEvents(events: readonly HelperEvent[]): void {
    if (events.length === 0) return;
    this.view = reduceRunEvents(this.view, events);
    this.lastEvent = events.reduce((a, b) => (b.seq > a.seq ? b : a), this.lastEvent ?? events[0]);
  }

  get finished(): boolean {
    return this.view.outcome !== null || this.endedWithoutResult;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.runId) this.startPolling();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopPolling();
  }

  protected override updated(changed: Map<PropertyKey, unknown>): void {
    if (changed.has('runId') && changed.get('runId') !== undefined && this.isConnected) {
      this.view = INITIAL_RUN_STATE;
      this.lastEvent = null;
      this.endedWithoutResult = false;
      this.cancelRequested = false;
      this.safetySetId = null;
      this.startPolling();
    }
  }

  private startPolling(): void {
    this.stopPolling();
    const generation = ++this.generation;
    void this.poll(generation);
  }

  private stopPolling(): void {
    this.generation++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async poll(generation: number): Promise<void> {
    if (!this.runId) return;
    try {
      const record = await this.api.status({ runId: this.runId, since: this.view.lastSeq });
      if (generation !== this.generation) return;
      this.pollError = '';
      this.loggedOut = false;
      if (record.safetySetId) this.safetySetId = record.safetySetId;
      this.applyEvents(record.events ?? []);
      if (!this.view.outcome && record.done) this.endedWithoutResult = true;
      if (this.finished) {
        this.finish();
        return;
      }
    } catch (error) {
      if (generation !== this.generation) return;
      const notCreatedYet = this.awaitStart && this.view.lastSeq === 0 && error instanceof ApiError && error.code === 'USAGE';
      this.loggedOut = isLoggedOut(error);
      this.pollError = notCreatedYet || this.loggedOut ? '' : describeError(error);
    }
    // Logged out: every refused poll is an error in CiviCRM's log, so ask less often until the login is back.
    this.timer = setTimeout(() => void this.poll(generation), this.loggedOut ? this.pollIntervalMs * LOGGED_OUT_POLL_FACTOR : this.pollIntervalMs);
  }

  private finish(): void {
    this.stopPolling();
    const outcome = this.view.outcome;
    const detail: RunFinishedDetail = {
      runId: this.runId,
      outcome: outcome?.kind === 'done' ? 'done' : outcome?.kind === 'error' && outcome.code === 'CANCELLED' ? 'cancelled' : 'error',
      lastEvent: this.lastEvent,
      ...(this.safetySetId ? { safetySetId: this.safetySetId } : {}),
    };
    this.dispatchEvent(pageEvent(RUN_FINISHED, detail));
  }

  private async cancel(): Promise<void> {
    this.cancelError = '';
    this.cancelRequested = true;
    try {
      await this.api.cancel({ runId: this.runId });
    } catch (error) {
      this.cancelRequested = false;
      this.cancelError = describeError(error);
    }
  }

  private get texts() {
    // A restore run starts with its safety backup (command 'backup'): still a restore.
    const command = this.kind === 'restore' ? 'restore' : this.view.command === 'verify' || this.view.command === 'restore' ? this.view.command : this.kind;
    switch (command) {
      case 'verify':
        return {
          running: ts('Verification in progress'),
          done: ts('Verification complete.'),
          failed: ts('Verification failed.'),
          cancelled: ts('Verification cancelled.'),
          cancel: ts('Cancel verification'),
          lost: ts('The verification process ended without reporting a result.'),
        };
      case 'restore':
        if (this.kind === 'restore' && this.view.command === 'backup') {
          // The first step of a restore over the live site.
          return {
            running: ts('Safety backup before the restore (step 1 of 2)'),
            done: ts('Safety backup complete.'),
            failed: ts('The safety backup failed, so nothing was restored.'),
            cancelled: ts('Restore cancelled during the safety backup; nothing was restored.'),
            cancel: ts('Cancel restore'),
            lost: ts('The safety backup ended without reporting a result; nothing was restored.'),
          };
        }
        return {
          running: ts('Restore in progress'),
          done: ts('Restore complete.'),
          failed: ts('Restore failed.'),
          cancelled: ts('Restore cancelled.'),
          cancel: ts('Cancel restore'),
          lost: ts('The restore process ended without reporting a result.'),
        };
      default:
        return {
          running: ts('Backup in progress'),
          done: ts('Backup complete.'),
          failed: ts('Backup failed.'),
          cancelled: ts('Backup cancelled.'),
          cancel: ts('Cancel backup'),
          lost: ts('The backup process ended without reporting a result.'),
        };
    }
  }

  /** One short sentence for the live region: changes on phase or item, not on every byte. */
  private statusText(): string {
    const v = this.view;
    const texts = this.texts;
    if (v.outcome?.kind === 'done') return texts.done;
    if (v.outcome?.kind === 'error') {
      return v.outcome.code === 'CANCELLED' ? texts.cancelled : `${texts.failed} ${v.outcome.message}`;
    }
    if (this.endedWithoutResult) return texts.lost;
    if (this.cancelRequested) return ts('Cancelling\u2026');
    if (!v.phase) return ts('Starting\u2026');
    return v.item ? ts('%1: %2', { 1: phaseLabel(v.phase), 2: v.item }) : phaseLabel(v.phase);
  }

  private renderBar() {
    const v = this.view;
    const percent = v.percent;
    const label = v.phase ? ts('Progress: %1', { 1: phaseLabel(v.phase) }) : ts('Backup progress');
    const valueText = percent === null ? ts('working, total not known yet') : ts('%1 percent', { 1: Math.round(percent) });
    return html`<div
      class="bar ${percent === null ? 'indeterminate' : ''}"
      role="progressbar"
      aria-label=${label}
      aria-valuemin="0"
      aria-valuemax="100"
      aria-valuenow=${percent === null ? nothing : Math.round(percent)}
      aria-valuetext=${valueText}
    >
      <div style="width:${percent ?? 30}%"></div>
    </div>`;
  }

  private renderFigures() {
    const v = this.view;
    // rowsTotal is the server's row estimate (InnoDB statistics): shown as approximate, and not
    // at all once the real count passes it ("8 / 1" would read as a fault).
    const rows =
      v.rows === null ? null : v.rowsTotal && v.rows <= v.rowsTotal ? `${v.rows.toLocaleString()} / ~${v.rowsTotal.toLocaleString()}` : v.rows.toLocaleString();
    const bytes = v.bytesTotal ? `${formatBytes(v.bytes)} / ${formatBytes(v.bytesTotal)}` : formatBytes(v.bytes);
    return html`<dl>
      <dt>${ts('Step')}</dt>
      <dd>${v.phase ? phaseLabel(v.phase) : '—'}${v.percent !== null ? ` (${Math.round(v.percent)}%)` : ''}</dd>
      <dt>${ts('Working on')}</dt>
      <dd>${v.item ?? '—'}${v.path ? html` <span class="muted">${v.path}</span>` : nothing}</dd>
      ${rows !== null ? html`<dt>${ts('Rows')}</dt><dd>${rows}</dd>` : nothing}
      <dt>${ts('Data')}</dt>
      <dd>${bytes}</dd>
      <dt>${ts('Speed')}</dt>
      <dd>${v.throughput ? ts('%1/s', { 1: formatBytes(v.throughput) }) : '—'}</dd>
      <dt>${ts('Time left in this step')}</dt>
      <dd>${v.etaSeconds !== null ? formatDuration(v.etaSeconds) : ts('not known yet')}</dd>
    </dl>`;
  }

  private renderOutcome() {
    const v = this.view;
    if (v.outcome?.kind === 'done') {
      const bytes = typeof v.outcome.summary['bytes'] === 'number' ? formatBytes(v.outcome.summary['bytes']) : null;
      return html`<div class="alert success">
        <strong><span aria-hidden="true">\u2714\uFE0E</span> ${this.texts.done}</strong>
        ${v.outcome.set ? html`<div>${ts('Set: %1', { 1: v.outcome.set })}</div>` : nothing}
        ${bytes ? html`<div>${ts('Size: %1', { 1: bytes })}</div>` : nothing}
      </div>`;
    }
    if (v.outcome?.kind === 'error') {
      const cancelled = v.outcome.code === 'CANCELLED';
      return html`<div class="alert ${cancelled ? 'warning' : 'error'}" role="alert">
        <strong><span aria-hidden="true">${cancelled ? '\u26A0\uFE0E' : '\u2716\uFE0E'}</span> ${cancelled ? this.texts.cancelled : this.texts.failed}</strong>
        <p>${v.outcome.message} <span class="muted">(${v.outcome.code})</span></p>
        <p><strong>${ts('What to do:')}</strong> ${v.outcome.hint}</p>
        ${v.outcome.retryable && !cancelled ? html`<p>${ts('Trying again later may work.')}</p>` : nothing}
      </div>`;
    }
    if (this.endedWithoutResult) {
      return html`<div class="alert error" role="alert">
        <strong><span aria-hidden="true">\u2716\uFE0E</span> ${this.texts.lost}</strong>
        <p><strong>${ts('What to do:')}</strong> ${ts('Check the CiviCRM log for the helper\u2019s output, then run the backup again.')}</p>
      </div>`;
    }
    return nothing;
  }

  override render() {
    const v = this.view;
    const running = !this.finished;
    return html`
      <section class="block" aria-labelledby="run-heading">
        <h3 id="run-heading">${running ? this.texts.running : ts('Run report')}</h3>
        <p class="status ${running ? '' : 'visually-hidden'}" aria-live="polite" aria-atomic="true" data-testid="status">${this.statusText()}</p>
        ${running ? this.renderBar() : nothing} ${running ? this.renderFigures() : nothing}
        ${this.pollError
          ? html`<div class="alert warning">${ts('Lost contact with the server (%1); still trying.', { 1: this.pollError })}</div>`
          : nothing}
        ${this.loggedOut && running
          ? html`<div class="alert warning" role="alert" data-testid="logged-out">
              <strong>${ts('Your login has ended, so this page cannot follow the run.')}</strong>
              ${this.kind === 'restore'
                ? ts('A database restore replaces the logins CiviCRM keeps in its own tables (on Standalone sites).')
                : nothing}
              ${ts('The run goes on on the server. Log in again in another tab or window of this browser and keep this page open: it then follows the run to its end.')}
            </div>`
          : nothing}
        ${this.renderOutcome()}
        ${v.warnings.length
          ? html`<div class="alert warning">
              <strong>${ts('\u26A0\uFE0E Warnings (%1)', { 1: v.warnings.length })}</strong>
              <ul class="warnings">
                ${v.warnings.map((w) => html`<li>${w.message}${w.item ? html` <span class="muted">(${w.item})</span>` : nothing}</li>`)}
              </ul>
            </div>`
          : nothing}
        ${running
          ? html`<button type="button" class="danger" ?disabled=${this.cancelRequested} @click=${() => void this.cancel()}>
              ${this.cancelRequested ? ts('Cancelling\u2026') : this.texts.cancel}
            </button>`
          : nothing}
        ${this.cancelError ? html`<p class="alert error" role="alert">${ts('Could not cancel: %1', { 1: this.cancelError })}</p>` : nothing}
      </section>
    `;
  }
}
