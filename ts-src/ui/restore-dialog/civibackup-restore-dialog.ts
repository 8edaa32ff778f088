/**
 * "Restore..." for one backup set, in a modal dialog: choose what to restore (the database
 * over the live site, CiviCRM's tables only or every table; directories; or the database into
 * a new database for inspection), read what will be replaced and what the safety backup is,
 * give the secret key of an encrypted set (typed, pasted or read from a file in the browser;
 * sent with the one call that starts the run and never stored), type the set id to confirm,
 * follow the run live, learn when the site answers again, and undo the restore by restoring
 * the safety backup while that set exists.
 *
 * Keyboard: Tab stays inside the dialog; Escape closes it except while a run is going; focus
 * returns to the button that opened it.
 *
 * @fires civibackup-sets-changed - after a restore ended (its safety backup is a new set)
 */
import { LitElement, html, css, nothing } from 'lit';
import { property, state } from 'lit/decorators.js';
import type { BackupConfig } from '../../protocol/api.js';
import type { SetSummary } from '../../protocol/sets.js';
import { BackupApi, describeError } from '../api/crm-api.js';
import { DEFAULT_POLL_INTERVAL_MS } from '../boot.js';
import { ts } from '../i18n.js';
import { extractAgeIdentity } from '../shared/age-keys.js';
import { SETS_CHANGED, pageEvent, type RunFinishedDetail } from '../shared/events.js';
import { trapTab } from '../shared/focus-trap.js';
import { formatBytes, formatDateTime } from '../shared/format.js';
import { renderKeyFields } from '../shared/key-fields.js';
import { alertStyles, baseStyles, buttonStyles, dialogStyles, formStyles } from '../shared/styles.js';
import '../run-progress/define.js';
import {
  choiceProblems,
  defaultChoices,
  describePlan,
  directoryPath,
  mainDatabase,
  newRunId,
  offersScope,
  restoreParams,
  type RestoreChoices,
} from './restore-plan.js';
import { waitForSite, type SiteAnswer } from './site-check.js';

type Stage = 'choose' | 'running' | 'finished' | 'undo';

interface ActiveRun {
  runId: string;
  set: SetSummary;
  choices: RestoreChoices;
  /** This run restores the safety backup of an earlier restore. */
  undo: boolean;
}

export class CivibackupRestoreDialog extends LitElement {
  static override styles = [
    baseStyles,
    buttonStyles,
    formStyles,
    alertStyles,
    dialogStyles,
    css`
      dialog {
        max-width: 46rem;
        width: calc(100vw - 2rem);
      }
      dialog .body {
        max-height: calc(100vh - 8rem);
        overflow-y: auto;
      }
      .choice {
        display: flex;
        gap: 0.4rem;
        align-items: baseline;
        margin-block: 0.2rem;
      }
      .choice label {
        font-weight: normal;
      }
      .nested {
        margin-inline-start: 1.6rem;
      }
      ul.plan {
        margin: 0.25rem 0 0.75rem;
        padding-inline-start: 1.2rem;
      }
      ul.plan li {
        margin-block-end: 0.3rem;
      }
      ul.plan li.caution {
        font-weight: 600;
      }
      h4 {
        margin: 0.75rem 0 0.25rem;
      }
    `,
  ];

  @property({ attribute: false }) api = new BackupApi();
  @property({ type: Number, attribute: 'poll-interval-ms' }) pollIntervalMs = DEFAULT_POLL_INTERVAL_MS;
  /** How often to ask whether the site answers again after a database restore. */
  @property({ type: Number, attribute: 'site-check-interval-ms' }) siteCheckIntervalMs = 2000;

  @state() private set: SetSummary | null = null;
  @state() private stage: Stage = 'choose';
  @state() private choices: RestoreChoices | null = null;
  @state() private config: BackupConfig | null = null;
  @state() private confirmText = '';
  /** The secret key as typed or read from a file: in this element only until the run starts. */
  @state() private keyText = '';
  @state() private keyError = '';
  @state() private startError = '';
  @state() private run: ActiveRun | null = null;
  @state() private outcome: RunFinishedDetail | null = null;
  @state() private site: 'idle' | 'checking' | SiteAnswer = 'idle';
  @state() private siteAttempts = 0;
  @state() private siteBackAt: Date | null = null;
  /** The safety backup of the finished restore, when it is still listed. */
  @state() private undoSet: SetSummary | null = null;
  @state() private undoState: 'none' | 'checking' | 'available' | 'gone' = 'none';

  private returnFocus: HTMLElement | null = null;
  private siteCheck: AbortController | null = null;

  private get dialog(): HTMLDialogElement | null {
    return this.renderRoot.querySelector<HTMLDialogElement>('dialog');
  }

  get isOpen(): boolean {
    return this.dialog?.open ?? false;
  }

  /** Opens the dialog for `set`; focus goes back to `returnFocusTo` when it closes. */
  async open(set: SetSummary, returnFocusTo: HTMLElement | null = null): Promise<void> {
    this.returnFocus = returnFocusTo;
    this.set = set;
    this.stage = 'choose';
    this.choices = defaultChoices(set);
    this.confirmText = '';
    this.clearKey();
    this.startError = '';
    this.run = null;
    this.outcome = null;
    this.site = 'idle';
    this.undoSet = null;
    this.undoState = 'none';
    void this.loadConfig();
    await this.updateComplete;
    this.dialog?.showModal();
    this.renderRoot.querySelector<HTMLElement>('input, button')?.focus();
  }

  private async loadConfig(): Promise<void> {
    try {
      this.config = await this.api.getConfig();
    } catch {
      // The statement then names the directories without their paths; nothing else depends on it.
      this.config = null;
    }
  }

  private close(): void {
    if (this.stage === 'running') return;
    this.siteCheck?.abort();
    this.clearKey();
    this.dialog?.close();
    this.set = null;
    this.run = null;
    this.returnFocus?.focus();
  }

  private onKeydown(event: KeyboardEvent): void {
    // A run is followed only while this dialog asks for its progress: Escape must not end that.
    if (event.key === 'Escape' && this.stage === 'running') event.preventDefault();
    trapTab(event, this.dialog!);
  }

  /**
   * The browser closes a modal dialog on a second Escape even when its cancel event is
   * refused (close watchers): while a run goes on, it is shown again at once.
   */
  private keepOpenWhileRunning(): void {
    if (this.stage === 'running' && this.dialog && !this.dialog.open) this.dialog.showModal();
  }

  private clearKey(): void {
    this.keyText = '';
    this.keyError = '';
    const file = this.renderRoot.querySelector<HTMLInputElement>('#restore-key-file');
    if (file) file.value = '';
  }

  private edit(change: Partial<RestoreChoices>): void {
    if (this.choices) this.choices = { ...this.choices, ...change };
    this.startError = '';
  }

  private toggleDirectory(label: string, on: boolean): void {
    const current = this.choices?.directories ?? [];
    this.edit({ directories: on ? [...current.filter((d) => d !== label), label] : current.filter((d) => d !== label) });
  }

  /** The identity from the key field, or null (with keyError set) when it holds none; '' when the set is not encrypted. */
  private takeIdentity(set: SetSummary): string | null {
    if (!set.encrypted) return '';
    const identity = extractAgeIdentity(this.keyText);
    if (!identity) {
      this.keyError = ts('That is not an age secret key. Paste the line that starts with AGE-SECRET-KEY-1, or load the key file.');
      return null;
    }
    return identity;
  }

  private startRestore(): void {
    const set = this.set;
    const choices = this.choices;
    if (!set || !choices || choiceProblems(choices, set).length > 0 || this.confirmText !== set.setId) return;
    const identity = this.takeIdentity(set);
    if (identity === null) return;
    void this.begin(set, choices, identity, false);
  }

  private startUndo(): void {
    const safety = this.undoSet;
    const restored = this.run;
    if (!safety || !restored) return;
    const identity = this.takeIdentity(safety);
    if (identity === null) return;
    void this.begin(safety, restored.choices, identity, true);
  }

  /**
   * Starts the run under a run id chosen here and follows it at once: an encrypted set is
   * restored attached, so the call below returns only when the run has ended. The identity
   * lives in this call's arguments only; the key field is emptied before anything is sent.
   */
  private async begin(set: SetSummary, choices: RestoreChoices, identity: string, undo: boolean): Promise<void> {
    this.clearKey();
    const runId = newRunId();
    const before = { run: this.run, outcome: this.outcome, stage: this.stage };
    this.startError = '';
    this.outcome = null;
    this.siteCheck?.abort();
    this.site = 'idle';
    this.run = { runId, set, choices, undo };
    this.stage = 'running';
    await this.focusHeading();
    try {
      await this.api.restore({ ...restoreParams(choices, set, set.setId), runId, ...(identity ? { identity } : {}) });
    } catch (error) {
      // The request may have ended (a proxy's time limit) while the run goes on: follow it if it exists.
      try {
        await this.api.status({ runId });
        return;
      } catch {
        /* the run was never created: the call's own error says why */
      }
      // Back where the administrator started it (the choices, or the undo question), with the reason.
      this.run = before.run;
      this.outcome = before.outcome;
      this.stage = before.stage;
      this.startError = describeError(error);
    }
  }

  private async focusHeading(): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>('#restore-h')?.focus();
  }

  private onRunFinished(event: CustomEvent<RunFinishedDetail>): void {
    const run = this.run;
    event.stopPropagation();
    // Once per run: the progress of an earlier run may report again when it is shown again.
    if (!run || event.detail.runId !== run.runId || this.outcome?.runId === run.runId) return;
    this.outcome = event.detail;
    this.stage = 'finished';
    this.dispatchEvent(pageEvent(SETS_CHANGED, { reason: 'restored', setId: run.set.setId }));
    const live = run.choices.target === 'live';
    if (event.detail.outcome === 'done' && live && run.choices.database) void this.checkSite();
    if (event.detail.outcome === 'done' && event.detail.safetySetId) void this.findUndoSet(event.detail.safetySetId);
    void this.focusHeading();
  }

  private async checkSite(): Promise<void> {
    this.siteCheck?.abort();
    const controller = new AbortController();
    this.siteCheck = controller;
    this.site = 'checking';
    this.siteAttempts = 0;
    const answer = await waitForSite(this.api, this.siteCheckIntervalMs, controller.signal, (attempt) => (this.siteAttempts = attempt));
    if (answer === null) return;
    this.site = answer;
    this.siteBackAt = new Date();
  }

  /** Undo is offered while the safety backup is still listed (retention or a person may remove it). */
  private async findUndoSet(setId: string): Promise<void> {
    this.undoState = 'checking';
    try {
      this.undoSet = (await this.api.sets()).find((s) => s.setId === setId) ?? null;
    } catch {
      this.undoSet = null;
    }
    this.undoState = this.undoSet ? 'available' : 'gone';
  }

  private askUndo(): void {
    this.stage = 'undo';
    this.startError = '';
    this.clearKey();
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('#undo-keep')?.focus());
  }

  private renderKeyField(set: SetSummary) {
    return html`<p id="restore-key-help" class="help">
        ${ts('Set %1 is encrypted, so the restore needs your secret key. It is sent with the request that starts this restore and handed to the helper in memory; it is not stored on the server or in this browser.', { 1: set.setId })}
      </p>
      ${renderKeyFields({
        prefix: 'restore-key',
        text: this.keyText,
        error: this.keyError,
        describedBy: 'restore-key-help',
        onText: (text) => {
          this.keyText = text;
          this.keyError = '';
        },
      })}`;
  }

  private renderTarget(set: SetSummary, c: RestoreChoices) {
    const hasDatabase = mainDatabase(set) !== undefined;
    return html`<fieldset>
      <legend>${ts('Restore to')}</legend>
      <div class="choice">
        <input type="radio" id="target-live" name="target" .checked=${c.target === 'live'} @change=${() => this.edit({ target: 'live' })} />
        <label for="target-live">${ts('This site: replaces its live data')}</label>
      </div>
      <div class="choice">
        <input
          type="radio"
          id="target-new"
          name="target"
          ?disabled=${!hasDatabase}
          .checked=${c.target === 'new-database'}
          @change=${() => this.edit({ target: 'new-database' })}
        />
        <label for="target-new">${ts('A new database: a copy of the set\u2019s database to inspect; nothing live changes')}</label>
      </div>
    </fieldset>`;
  }

  private renderLiveChoices(set: SetSummary, c: RestoreChoices) {
    const main = mainDatabase(set);
    return html`<fieldset>
      <legend>${ts('What to restore')}</legend>
      <div class="choice">
        <input type="checkbox" id="restore-database" ?disabled=${!main} .checked=${c.database} @change=${(e: Event) => this.edit({ database: (e.target as HTMLInputElement).checked })} />
        <label for="restore-database"
          >${main ? ts('The database (%1 tables, %2 rows)', { 1: main.tables, 2: main.rows.toLocaleString() }) : ts('The database (this set holds none)')}</label
        >
      </div>
      ${c.database && offersScope(set)
        ? html`<fieldset class="nested" aria-describedby="scope-help">
            <legend>${ts('Which tables')}</legend>
            <p id="scope-help" class="help">
              ${ts('The set\u2019s database holds %1 tables that are not CiviCRM\u2019s, such as those of the CMS this site runs in.', { 1: main?.otherTables ?? 0 })}
            </p>
            <div class="choice">
              <input type="radio" id="scope-civicrm" name="scope" .checked=${c.scope === 'civicrm'} @change=${() => this.edit({ scope: 'civicrm' })} />
              <label for="scope-civicrm">${ts('CiviCRM\u2019s tables only (recommended: the CMS keeps its users and content)')}</label>
            </div>
            <div class="choice">
              <input type="radio" id="scope-all" name="scope" .checked=${c.scope === 'all'} @change=${() => this.edit({ scope: 'all' })} />
              <label for="scope-all">${ts('Every table the set holds (the database becomes exactly the set\u2019s, the CMS\u2019s tables included)')}</label>
            </div>
          </fieldset>`
        : nothing}
      ${set.directories.map((d) => {
        const path = directoryPath(this.config, d.label);
        // Without the settings (still loading, or not readable) PHP decides whether the site has the directory.
        const unavailable = this.config !== null && path === null;
        return html`<div class="choice">
          <input
            type="checkbox"
            id="restore-dir-${d.label}"
            ?disabled=${unavailable}
            .checked=${c.directories.includes(d.label)}
            @change=${(e: Event) => this.toggleDirectory(d.label, (e.target as HTMLInputElement).checked)}
          />
          <label for="restore-dir-${d.label}"
            >${ts('Directory %1 (%2 files, %3)', { 1: d.label, 2: d.files.toLocaleString(), 3: formatBytes(d.bytes) })}${unavailable
              ? html` <span class="muted">${ts('not set on this site (Directories settings)')}</span>`
              : nothing}</label
          >
        </div>`;
      })}
    </fieldset>`;
  }

  private renderNewDatabase(c: RestoreChoices) {
    return html`<div class="field">
      <label for="new-database">${ts('Name of the new database')}</label>
      <input
        type="text"
        id="new-database"
        autocomplete="off"
        spellcheck="false"
        aria-describedby="new-database-help"
        .value=${c.newDatabase}
        @input=${(e: Event) => this.edit({ newDatabase: (e.target as HTMLInputElement).value.trim() })}
      />
      <span id="new-database-help" class="help">${ts('On the same database server as CiviCRM\u2019s. Letters, digits and _ only.')}</span>
    </div>`;
  }

  private renderPlan(set: SetSummary, c: RestoreChoices) {
    return html`<h4 id="plan-h">${ts('What will happen')}</h4>
      <ul class="plan" aria-labelledby="plan-h" data-testid="plan">
        ${describePlan(c, set, this.config).map(
          (line) => html`<li class=${line.caution ? 'caution' : ''} data-line=${line.id}>
            ${line.caution ? html`<span aria-hidden="true">\u26A0\uFE0E </span><span class="visually-hidden">${ts('Caution:')} </span>` : nothing}${line.text}
          </li>`,
        )}
      </ul>`;
  }

  private renderChoose(set: SetSummary) {
    const c = this.choices!;
    const problems = choiceProblems(c, set);
    const confirmed = this.confirmText === set.setId;
    const keyMissing = set.encrypted && !this.keyText.trim();
    const live = c.target === 'live';
    return html`<p class="muted" id="restore-d">
        ${ts('Set %1 from %2 (%3).', { 1: set.setId, 2: formatDateTime(set.createdAt), 3: formatBytes(set.bytes) })}
      </p>
      ${this.renderTarget(set, c)} ${live ? this.renderLiveChoices(set, c) : this.renderNewDatabase(c)}
      ${problems.length ? html`<p class="help" data-testid="problems">${problems.join(' ')}</p>` : this.renderPlan(set, c)}
      ${set.encrypted ? this.renderKeyField(set) : nothing}
      <div class="field">
        <label for="restore-confirm">${ts('Type the set id %1 to confirm', { 1: set.setId })}</label>
        <input
          type="text"
          id="restore-confirm"
          autocomplete="off"
          spellcheck="false"
          .value=${this.confirmText}
          @input=${(e: Event) => (this.confirmText = (e.target as HTMLInputElement).value.trim())}
        />
      </div>
      ${this.startError
        ? html`<div class="alert error" role="alert" data-testid="start-error"><strong>${ts('The restore could not start.')}</strong> ${this.startError}</div>`
        : nothing}
      <div class="buttons">
        <button type="button" @click=${() => this.close()}>${ts('Cancel')}</button>
        <button
          type="button"
          class=${live ? 'danger' : 'primary'}
          data-testid="start"
          ?disabled=${problems.length > 0 || !confirmed || keyMissing}
          @click=${() => this.startRestore()}
        >
          ${live ? ts('Restore over this site') : ts('Restore into the new database')}
        </button>
      </div>`;
  }

  /** What the finished run did, and whether the site answers again. */
  private renderResult(run: ActiveRun) {
    const outcome = this.outcome;
    if (!outcome || outcome.outcome !== 'done') {
      return html`<p>${run.choices.target === 'live'
        ? ts('The live site was not changed by the restore step. When a safety backup was written, it stays in the list of sets.')
        : ts('This site was not changed.')}</p>`;
    }
    const parts: string[] = [];
    if (run.choices.target === 'new-database') parts.push(ts('the database, into %1', { 1: run.choices.newDatabase }));
    if (run.choices.target === 'live' && run.choices.database) {
      parts.push(run.choices.scope === 'all' ? ts('every table of the database') : ts('CiviCRM\u2019s tables of the database'));
    }
    if (run.choices.target === 'live') for (const label of run.choices.directories) parts.push(ts('the directory %1', { 1: label }));
    return html`<p data-testid="restored">
        <strong>${run.undo ? ts('Undone: the safety backup %1 was restored (%2).', { 1: run.set.setId, 2: parts.join(', ') }) : ts('Restored from set %1: %2.', { 1: run.set.setId, 2: parts.join(', ') })}</strong>
      </p>
      <p role="status" aria-live="polite" data-testid="site-status">${this.siteText()}</p>`;
  }

  private siteText(): string {
    switch (this.site) {
      case 'checking':
        return this.siteAttempts === 0
          ? ts('Checking that the site answers again\u2026')
          : ts('Waiting for the site to answer again (%1 tries so far)\u2026', { 1: this.siteAttempts });
      case 'back':
        return ts('The site is back: CiviCRM answered at %1. Triggers were rebuilt and caches cleared.', { 1: this.siteBackAt?.toLocaleTimeString() ?? '' });
      case 'logged-out':
        return ts('The site is back, but your login ended with the restore (the database holds the sessions of the set\u2019s time). Log in again to go on.');
      default:
        return '';
    }
  }

  private renderUndoOffer(run: ActiveRun) {
    if (run.choices.target !== 'live' || this.outcome?.outcome !== 'done' || !this.outcome.safetySetId) return nothing;
    const safetyId = this.outcome.safetySetId;
    switch (this.undoState) {
      case 'available':
        return html`<p>${ts('The safety backup %1 holds this site as it was just before. Undo restores it over the same parts.', { 1: safetyId })}</p>`;
      case 'gone':
        return html`<p class="alert warning">${ts('The safety backup %1 is no longer listed, so this restore cannot be undone here.', { 1: safetyId })}</p>`;
      default:
        return nothing;
    }
  }

  private renderUndo(run: ActiveRun) {
    const safety = this.undoSet!;
    return html`<p id="undo-d">
        ${ts('Undo the restore of set %1? The safety backup %2 (written %3, just before the restore) is restored over the same parts. Changes made since the restore are lost; a new safety backup is written first.', {
          1: run.set.setId,
          2: safety.setId,
          3: formatDateTime(safety.createdAt),
        })}
      </p>
      ${safety.encrypted ? this.renderKeyField(safety) : nothing}
      ${this.startError
        ? html`<div class="alert error" role="alert" data-testid="start-error"><strong>${ts('The undo could not start.')}</strong> ${this.startError}</div>`
        : nothing}
      <div class="buttons">
        <button type="button" id="undo-keep" @click=${() => (this.stage = 'finished')}>${ts('Keep the restored data')}</button>
        <button type="button" class="danger" ?disabled=${safety.encrypted && !this.keyText.trim()} @click=${() => this.startUndo()}>${ts('Undo restore')}</button>
      </div>`;
  }

  private heading(): string {
    const set = this.set;
    const run = this.run;
    if (!set) return '';
    if (this.stage === 'undo') return ts('Undo the restore');
    if (this.stage === 'running' && run) return run.undo ? ts('Undoing the restore') : ts('Restoring set %1', { 1: run.set.setId });
    if (this.stage === 'finished' && run) {
      const ok = this.outcome?.outcome === 'done';
      return run.undo ? (ok ? ts('Restore undone') : ts('Undo did not finish')) : ok ? ts('Restore finished') : ts('Restore did not finish');
    }
    return ts('Restore set %1', { 1: set.setId });
  }

  override render() {
    const set = this.set;
    const run = this.run;
    return html`<dialog
      aria-labelledby="restore-h"
      aria-describedby=${this.stage === 'choose' ? 'restore-d' : this.stage === 'undo' ? 'undo-d' : nothing}
      @cancel=${(e: Event) => {
        e.preventDefault();
        this.close();
      }}
      @close=${() => this.keepOpenWhileRunning()}
      @keydown=${(e: KeyboardEvent) => this.onKeydown(e)}
    >
      ${set
        ? html`<h3 id="restore-h" tabindex="-1">${this.heading()}</h3>
            <div class="body">
              ${this.stage === 'choose' ? this.renderChoose(set) : nothing}
              ${run && this.stage !== 'choose'
                ? html`<civibackup-run-progress
                    kind="restore"
                    await-start
                    .api=${this.api}
                    .pollIntervalMs=${this.pollIntervalMs}
                    run-id=${run.runId}
                    ?hidden=${this.stage === 'undo'}
                    @civibackup-run-finished=${(e: CustomEvent<RunFinishedDetail>) => this.onRunFinished(e)}
                  ></civibackup-run-progress>`
                : nothing}
              ${this.stage === 'running'
                ? html`<p class="help">${ts('Keep this page open until the restore has finished: the restore itself starts after the safety backup only while this page asks for its progress.')}</p>`
                : nothing}
              ${this.stage === 'finished' && run
                ? html`${this.renderResult(run)} ${this.renderUndoOffer(run)}
                    <div class="buttons">
                      ${this.undoState === 'available' && this.outcome?.outcome === 'done'
                        ? html`<button type="button" class="danger" @click=${() => this.askUndo()}>${ts('Undo this restore')}</button>`
                        : nothing}
                      <button type="button" @click=${() => this.close()}>${ts('Close')}</button>
                    </div>`
                : nothing}
              ${this.stage === 'undo' && run && this.undoSet ? this.renderUndo(run) : nothing}
            </div>`
        : nothing}
    </dialog>`;
  }
}
