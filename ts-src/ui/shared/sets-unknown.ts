/**
 * The one place the page says that the backup sets could not be listed (Node.js missing or
 * unusable, the helper failing to read the destination): why, and what to do. The overview
 * (OverviewRecord.setList) and the set list (a failed Backup.get) both show this block, once,
 * and show no figures that would read as "no backups" (0 sets, 0 B).
 */
import { html, nothing } from 'lit';
import type { SetListState } from '../../protocol/api.js';
import { ERROR_CODES, isErrorCode } from '../../protocol/errors.js';
import { ApiError } from '../api/crm-api.js';
import { ts } from '../i18n.js';

export type SetsUnknown = Extract<SetListState, { state: 'unknown' }>;

/** A failed Backup.get as the same record the overview gets. */
export function setsUnknownFrom(error: unknown): SetsUnknown {
  if (error instanceof ApiError) return { state: 'unknown', code: error.code, reason: error.message, hint: error.hint };
  return { state: 'unknown', code: '', reason: error instanceof Error ? error.message : String(error), hint: '' };
}

export function renderSetsUnknown(list: SetsUnknown, retry?: () => void) {
  // PHP always sends a hint today; a bare code still gets the protocol's one sentence.
  const hint = list.hint || (isErrorCode(list.code) ? ERROR_CODES[list.code].hint : '');
  return html`<div class="alert error" role="alert" data-testid="sets-unknown">
    <strong><span aria-hidden="true">\u2716\uFE0E</span> ${ts('The backup sets could not be listed, so whether backups exist is unknown.')}</strong>
    ${list.reason ? html`<p>${list.reason}</p>` : nothing}
    ${hint ? html`<p><strong>${ts('What to do:')}</strong> ${hint}</p>` : nothing}
    ${retry ? html`<button type="button" @click=${retry}>${ts('Try again')}</button>` : nothing}
  </div>`;
}
