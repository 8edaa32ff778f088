/**
 * The Backups page root (<civibackup-app>, placed by the extension's page template). Three
 * views behind ARIA tabs: Overview, Backup sets, Settings. The view follows the URL hash
 * (#/overview, #/sets, #/settings) so reload and back/forward keep the place. Only the
 * selected view exists; switching views re-creates it, so it always shows fresh data. Boot data
 * (permission, version, poll interval) comes from window.CRM.civibackup or
 * CRM.vars.civibackup (see boot.ts).
 */
import { LitElement, html, css } from 'lit';
import { property, state } from 'lit/decorators.js';
import { BackupApi } from '../api/crm-api.js';
import { readBootData, type BootData } from '../boot.js';
import { ts } from '../i18n.js';
import { baseStyles } from '../shared/styles.js';
import '../overview/define.js';
import '../set-list/define.js';
import '../settings-form/define.js';

export type AppView = 'overview' | 'sets' | 'settings';
const VIEWS: AppView[] = ['overview', 'sets', 'settings'];

export function viewFromHash(hash: string): AppView {
  const name = hash.replace(/^#\/?/, '');
  return (VIEWS as string[]).includes(name) ? (name as AppView) : 'overview';
}

export class CivibackupApp extends LitElement {
  static override styles = [
    baseStyles,
    css`
      [role='tablist'] {
        display: flex;
        gap: var(--crm-tabs-gap, 0.25rem);
        background: var(--crm-tabs-bg, #d5d5d5);
        padding: var(--crm-tabs-padding, 0.25rem) var(--crm-tabs-padding, 0.25rem) 0;
        border-radius: var(--crm-tabs-radius, 4px) var(--crm-tabs-radius, 4px) 0 0;
      }
      [role='tab'] {
        font: inherit;
        border: none;
        padding: var(--crm-tab-padding, 0.4rem 0.75rem);
        background: var(--crm-tab-bg, #eaeaea);
        color: var(--crm-tab-col, inherit);
        border-radius: var(--crm-tab-roundness, 4px) var(--crm-tab-roundness, 4px) 0 0;
        cursor: pointer;
      }
      [role='tab']:hover {
        background: var(--crm-tab-bg-hover, #f4f4ed);
      }
      [role='tab'][aria-selected='true'] {
        background: var(--crm-tab-bg-active, #fff);
        font-weight: 600;
        /* the selected tab is marked by weight and an underline, not by colour alone */
        box-shadow: inset 0 -3px 0 var(--crm-c-primary, #2c6fa3);
      }
      [role='tabpanel'] {
        background: var(--crm-c-page-background, #fff);
        padding: var(--crm-dash-panel-padding, 0.75rem);
        border: var(--crm-c-divider, 1px solid #c2c0c0);
        border-top: none;
      }
      .version {
        margin-top: 0.5rem;
        font-size: var(--crm-small-font-size, 0.8em);
      }
    `,
  ];

  @property({ attribute: false }) api = new BackupApi();
  /** Boot data; read from the CRM global when the element connects, unless set before. */
  @property({ attribute: false }) boot: BootData | null = null;
  /** Pins "now" for the children's relative times (tests and screenshots). */
  @property({ attribute: false }) now: Date | null = null;
  @state() view: AppView = viewFromHash(location.hash);

  private readonly onHashChange = (): void => {
    this.view = viewFromHash(location.hash);
  };

  override connectedCallback(): void {
    super.connectedCallback();
    this.boot ??= readBootData();
    window.addEventListener('hashchange', this.onHashChange);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.onHashChange);
  }

  private select(view: AppView, focus = false): void {
    this.view = view;
    // replaceState: switching tabs should not fill the browser history.
    history.replaceState(null, '', `#/${view}`);
    if (focus) void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`#tab-${view}`)?.focus());
  }

  /** WAI-ARIA tabs: arrows move between tabs, Home/End jump; Tab goes into the panel. */
  private onTabKey(event: KeyboardEvent): void {
    const index = VIEWS.indexOf(this.view);
    const next =
      event.key === 'ArrowRight' ? (index + 1) % VIEWS.length
      : event.key === 'ArrowLeft' ? (index + VIEWS.length - 1) % VIEWS.length
      : event.key === 'Home' ? 0
      : event.key === 'End' ? VIEWS.length - 1
      : -1;
    if (next < 0) return;
    event.preventDefault();
    this.select(VIEWS[next], true);
  }

  private label(view: AppView): string {
    return view === 'overview' ? ts('Overview') : view === 'sets' ? ts('Backup sets') : ts('Settings');
  }

  private renderPanel() {
    const boot = this.boot ?? readBootData();
    switch (this.view) {
      case 'overview':
        return html`<civibackup-overview
          .api=${this.api}
          .now=${this.now}
          .pollIntervalMs=${boot.pollIntervalMs}
          ?can-administer=${boot.canAdminister}
        ></civibackup-overview>`;
      case 'sets':
        return html`<civibackup-set-list .api=${this.api} .pollIntervalMs=${boot.pollIntervalMs} ?can-administer=${boot.canAdminister}></civibackup-set-list>`;
      case 'settings':
        return html`<civibackup-settings-form .api=${this.api} .now=${this.now} ?can-administer=${boot.canAdminister}></civibackup-settings-form>`;
    }
  }

  override render() {
    return html`
      <div role="tablist" aria-label=${ts('Backups')} @keydown=${(e: KeyboardEvent) => this.onTabKey(e)}>
        ${VIEWS.map(
          (view) => html`<button
            type="button"
            role="tab"
            id="tab-${view}"
            aria-selected=${this.view === view ? 'true' : 'false'}
            aria-controls="panel"
            tabindex=${this.view === view ? '0' : '-1'}
            @click=${() => this.select(view)}
          >
            ${this.label(view)}
          </button>`,
        )}
      </div>
      <div role="tabpanel" id="panel" aria-labelledby="tab-${this.view}">${this.renderPanel()}</div>
      ${this.boot?.version ? html`<p class="version muted">${ts('CiviBackup %1', { 1: this.boot.version })}</p>` : ''}
    `;
  }
}
