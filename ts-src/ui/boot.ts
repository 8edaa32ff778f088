/**
 * Boot data the page's PHP puts next to the component: window.CRM.civibackup, or
 * CRM.vars.civibackup when added with Civi::resources()->addVars(). Both are read; the
 * first one present wins. Missing values fall back to safe defaults (read-only page).
 */
export interface BootData {
  canAdminister: boolean;
  version: string;
  pollIntervalMs: number;
  /** Absolute path of the helper bundle on the server, for the restore commands ('' if unknown). */
  helper: string;
}

export const DEFAULT_POLL_INTERVAL_MS = 1000;

interface BootGlobals {
  CRM?: { civibackup?: Partial<BootData>; vars?: { civibackup?: Partial<BootData> } };
}

export function readBootData(): BootData {
  const crm = (globalThis as unknown as BootGlobals).CRM;
  const raw: Partial<BootData> = crm?.civibackup ?? crm?.vars?.civibackup ?? {};
  const interval = Number(raw.pollIntervalMs);
  return {
    canAdminister: raw.canAdminister === true,
    version: typeof raw.version === 'string' ? raw.version : '',
    pollIntervalMs: Number.isFinite(interval) && interval >= 0 ? interval : DEFAULT_POLL_INTERVAL_MS,
    helper: typeof raw.helper === 'string' ? raw.helper : '',
  };
}
