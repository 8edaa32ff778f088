/**
 * What one backup set holds, which files of CiviCRM's code changed since the previous set
 * (Backup.codeChanges, asked for when the details open; only deduplicated sets record them),
 * and the commands to restore it by hand, each with a Copy button (navigator.clipboard; when
 * the browser refuses, the text is selected instead).
 */
import { LitElement, html, css, nothing } from 'lit';
import { property, state } from 'lit/decorators.js';
import { Task } from '@lit/task';
import type { CodeChangesRecord } from '../../protocol/api.js';
import type { SetSummary } from '../../protocol/sets.js';
import type { TreeChanges } from '../../protocol/tree-changes.js';
import { BackupApi, describeError } from '../api/crm-api.js';
import { ts } from '../i18n.js';
import { formatBytes } from '../shared/format.js';
import { sourceLabel } from '../shared/labels.js';
import { baseStyles, buttonStyles } from '../shared/styles.js';
import { readBootData } from '../boot.js';
import { changeLabel, changesCounts, notComparedText, versionChange } from './code-changes.js';
import { restoreCommands } from './restore-commands.js';

export class CivibackupSetDetail extends LitElement {
  static override styles = [
    baseStyles,
    buttonStyles,
    css`
      .command {
        margin-block-end: 0.75rem;
      }
      .command-head {
        display: flex;
        justify-content: space-between;
        align-items: end;
        gap: 0.5rem;
      }
      ul {
        margin: 0.25rem 0 0.5rem;
        padding-inline-start: 1.2rem;
      }
      /* Up to 500 paths: scroll inside the details rather than push the set list away. */
      .change-list {
        max-height: 16rem;
        overflow: auto;
        margin-block-end: 0.5rem;
      }
      ul.changes {
        list-style: none;
        padding-inline-start: 0;
        margin: 0;
      }
      .change {
        display: inline-block;
        min-width: 5.5rem;
        font-weight: 600;
      }
    `,
  ];

  @property({ attribute: false }) set: SetSummary | null = null;
  @property({ attribute: false }) api = new BackupApi();
  /** Live status of the last copy, for screen readers. */
  @state() private copyStatus = '';

  /** null: the set cannot have recorded any (format 1). */
  private readonly codeChangesTask = new Task(this, {
    task: async ([setId, format]): Promise<CodeChangesRecord | null> => {
      if (!setId || format !== 2) return null;
      return this.api.codeChanges({ setId });
    },
    args: () => [this.set?.setId, this.set?.format ?? 1] as const,
  });

  private async copy(id: string, text: string): Promise<void> {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      this.copyStatus = ts('Command copied to the clipboard.');
    } catch {
      const pre = this.renderRoot.querySelector<HTMLElement>(`pre[data-command="${id}"]`);
      if (pre) {
        const range = document.createRange();
        range.selectNodeContents(pre);
        const selection = window.getSelection();
        selection?.removeAllRanges();
        selection?.addRange(range);
      }
      this.copyStatus = ts('The browser did not allow copying; the command is selected, press Ctrl+C.');
    }
  }

  override render() {
    const set = this.set;
    if (!set) return nothing;
    return html`
      <p data-testid="source">
        <strong>${ts('Source: %1', { 1: sourceLabel(set.source) })}</strong><br />
        <span class="muted"
          >${set.source
            ? html`${ts('Retention only counts and removes sets of its own source; sets of other sources at the same destination are left alone. This source, as civibackup list and prune --source name it:')}
                <code>${set.source}</code>`
            : ts('The set records neither a source name nor a host name and database: retention leaves it alone (civibackup prune --include-unidentified counts it).')}</span
        >
      </p>
      <h4>${ts('Contents')}</h4>
      <ul>
        ${set.databases.map(
          (d) => html`<li>${ts('Database %1 (%2): %3 tables, %4 rows', { 1: d.name, 2: d.role, 3: d.tables, 4: d.rows.toLocaleString() })}</li>`,
        )}
        ${set.directories.map(
          (d) => html`<li>${ts('Directory %1: %2 files, %3', { 1: d.label, 2: d.files.toLocaleString(), 3: formatBytes(d.bytes) })}</li>`,
        )}
      </ul>
      ${set.format === 2
        ? html`<p data-testid="storage">
            ${ts('Restoring this set reads %1 of stored pieces; it added %2 to the destination when it was written. The rest it shares with other sets, so deleting it frees at most what no other set needs.', {
              1: formatBytes(set.referencedBytes ?? set.bytes),
              2: formatBytes(set.addedBytes ?? set.bytes),
            })}
          </p>`
        : nothing}
      <h4 id="code-changes-h">${ts('Code changes since the previous set')}</h4>
      <div data-testid="code-changes">
        ${this.codeChangesTask.render({
          pending: () => html`<p aria-busy="true">${ts('Loading\u2026')}</p>`,
          error: (error) => html`<p>${ts('The code changes could not be loaded: %1', { 1: describeError(error) })}</p>`,
          complete: (record) => this.renderCodeChanges(record),
        })}
      </div>
      <h4>${ts('Restore by hand')}</h4>
      <p class="muted">
        ${ts('DBNAME is a new, empty database; put the connection options in ~/.my.cnf so no password is on the command line. After restoring a CiviCRM database, rebuild its triggers and clear caches.')}
        ${set.encrypted ? ts('key.txt is the secret key you downloaded when you set up encryption.') : nothing}
      </p>
      ${restoreCommands(set, readBootData().helper).map(
        (c) => html`<div class="command">
          <div class="command-head">
            <span id="cmd-${c.id}">${c.title}</span>
            <button type="button" aria-describedby="cmd-${c.id}" @click=${() => void this.copy(c.id, c.command)}>${ts('Copy')}</button>
          </div>
          <pre data-command=${c.id}><code>${c.command}</code></pre>
        </div>`,
      )}
      <p role="status" aria-live="polite">${this.copyStatus}</p>
    `;
  }

  private renderCodeChanges(record: CodeChangesRecord | null) {
    const changes = record?.recorded ? record.changes : null;
    if (!changes) {
      return html`<p>${ts('Not recorded for this set.')}
        <span class="muted">${ts('Sets written by earlier versions of CiviBackup, from the command line, or without a copy of CiviCRM\u2019s code have no record of it.')}</span></p>`;
    }
    if (!changes.compared) return html`<p>${notComparedText(changes.reason)}</p>`;
    const version = versionChange(changes);
    return html`
      <p>
        ${changes.previous ? ts('Compared with set %1.', { 1: changes.previous.setId }) : ts('Compared with the previous backup made on this server.')}
        ${version ? html`<br /><strong data-testid="version-change">${version}</strong>` : nothing}
      </p>
      ${changes.paths.length === 0 ? html`<p>${ts('No file of CiviCRM\u2019s code changed.')}</p>` : this.renderChangeList(changes)}
    `;
  }

  private renderChangeList(changes: TreeChanges) {
    return html`
      <p data-testid="change-counts">${changesCounts(changes)}</p>
      <div class="change-list" role="region" aria-labelledby="code-changes-h" tabindex="0">
        <ul class="changes">
          ${changes.paths.map((c) => html`<li data-change=${c.change}><span class="change">${changeLabel(c.change)}</span> <code>${c.path}</code></li>`)}
        </ul>
      </div>
      ${changes.omitted > 0 ? html`<p data-testid="changes-omitted">${ts('\u2026and %1 more, not listed.', { 1: changes.omitted.toLocaleString() })}</p>` : nothing}
    `;
  }
}
