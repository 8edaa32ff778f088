/**
 * The one typed door to CiviCRM from the page: CRM.api4 for the `Backup` entity (contract in
 * ts-src/protocol/api.ts) and CRM.alert for toasts. CRM.$ (CiviCRM's jQuery) is typed here
 * with @types/jquery for code that needs it; the components themselves do not.
 * The CRM global is looked up at call time, not import time, because CiviCRM (or the tests'
 * fake) may define it after the bundle is evaluated.
 */
import type {
  BackupConfig,
  CancelParams,
  CodeChangesParams,
  CodeChangesRecord,
  DeleteParams,
  GetRecord,
  OffsiteConfig,
  OverviewRecord,
  RestoreParams,
  RunParams,
  RunRecord,
  SaveConfigParams,
  StatusParams,
  TestDestinationParams,
  StatusRecord,
  TestDestinationRecord,
  VerifyParams,
} from '../../protocol/api.js';

/** The part of CiviCRM's window.CRM (js/Common.js, js/crm.ajax.js) this page uses. */
export interface CrmGlobal {
  api4(entity: string, action: string, params?: object): Promise<unknown>;
  $?: JQueryStatic;
  alert?: (text: string, title?: string, type?: 'alert' | 'success' | 'info' | 'error') => unknown;
  ts?: (domain?: string) => (text: string, params?: Record<string, string | number>) => string;
  vars?: Record<string, unknown>;
  civibackup?: Record<string, unknown>;
}

export function crmGlobal(): CrmGlobal | null {
  const crm = (globalThis as unknown as { CRM?: CrmGlobal }).CRM;
  return crm && typeof crm.api4 === 'function' ? crm : null;
}

/** A failed API call, normalised: CRM.api4 rejects with {error_code, error_message} objects. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly action: string,
    /** What to do, when the server said (a CiviBackup error's hint). */
    readonly hint = '',
    /** The HTTP status CiviCRM answered with, when known (403: not allowed, or no longer logged in). */
    readonly httpStatus: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The text to show for a failure: its message and, for CiviBackup errors, what to do. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError && error.hint) return `${error.message} ${error.hint}`;
  return error instanceof Error ? error.message : String(error);
}

function toApiError(reason: unknown, action: string): ApiError {
  if (reason instanceof ApiError) return reason;
  if (reason && typeof reason === 'object') {
    const r = reason as { error_message?: unknown; error_code?: unknown; message?: unknown; status?: unknown };
    const message = typeof r.error_message === 'string' ? r.error_message : typeof r.message === 'string' ? r.message : '';
    const code = r.error_code !== undefined ? String(r.error_code) : r.status !== undefined ? `HTTP_${String(r.status)}` : 'UNKNOWN';
    const httpStatus = typeof r.status === 'number' ? r.status : null;
    // CiviBackup's PHP errors arrive as "[CODE] message\nhint" (CRM_Civibackup_ApiSupport):
    // CiviCRM's AJAX layer would otherwise send error_code 0 for a string code.
    const tagged = /^\[([A-Z][A-Z_]*)\] ([^\n]*)(?:\n([\s\S]*))?$/.exec(message);
    if (tagged) return new ApiError(tagged[2], tagged[1], action, tagged[3] ?? '', httpStatus);
    if (message) return new ApiError(message, code, action, '', httpStatus);
  }
  if (typeof reason === 'string' && reason) return new ApiError(reason, 'UNKNOWN', action);
  return new ApiError(`Backup.${action} failed without a message.`, 'UNKNOWN', action);
}

/** Every Backup action as a typed method; each resolves to the records CRM.api4 returned. */
export class BackupApi {
  constructor(private readonly resolveCrm: () => CrmGlobal | null = crmGlobal) {}

  private async call<R>(action: string, params: object = {}, entity = 'Backup'): Promise<R[]> {
    const crm = this.resolveCrm();
    if (!crm) throw new ApiError('CiviCRM\u2019s API is not available on this page (window.CRM.api4 is missing).', 'NO_CRM', action);
    let result: unknown;
    try {
      result = await crm.api4(entity, action, params);
    } catch (reason) {
      throw toApiError(reason, action);
    }
    // CRM.api4 resolves to an array-like result (an Array subclass with count etc.).
    return Array.isArray(result) ? (Array.from(result) as R[]) : [];
  }

  private async one<R>(action: string, params: object = {}): Promise<R> {
    const [first] = await this.call<R>(action, params);
    if (first === undefined) throw new ApiError(`Backup.${action} returned no record.`, 'EMPTY', action);
    return first;
  }

  overview(): Promise<OverviewRecord> {
    return this.one<OverviewRecord>('overview');
  }
  run(params: RunParams = { async: true }): Promise<RunRecord> {
    return this.one<RunRecord>('run', params);
  }
  status(params: StatusParams): Promise<StatusRecord> {
    return this.one<StatusRecord>('status', params);
  }
  cancel(params: CancelParams): Promise<unknown[]> {
    return this.call('cancel', params);
  }
  sets(): Promise<GetRecord[]> {
    return this.call<GetRecord>('get');
  }
  /** With {async: true} resolves to {runId} at once; otherwise waits and carries the final event. */
  verify(params: VerifyParams): Promise<RunRecord> {
    return this.one<RunRecord>('verify', params);
  }
  codeChanges(params: CodeChangesParams): Promise<CodeChangesRecord> {
    return this.one<CodeChangesRecord>('codeChanges', params);
  }
  delete(params: DeleteParams): Promise<unknown[]> {
    return this.call('delete', params);
  }
  /** With {async: true} and no identity resolves to {runId} at once; otherwise when the run has ended. */
  restore(params: RestoreParams): Promise<RunRecord> {
    return this.one<RunRecord>('restore', params);
  }
  /**
   * Whether CiviCRM answers and reads its database: one contact id (Contact.get, limit 1),
   * the cheapest call that proves the site works after a database restore.
   */
  async siteAnswers(): Promise<void> {
    await this.call('get', { select: ['id'], limit: 1 }, 'Contact');
  }
  getConfig(): Promise<BackupConfig> {
    return this.one<BackupConfig>('getConfig');
  }
  saveConfig(config: SaveConfigParams['config']): Promise<BackupConfig> {
    return this.one<BackupConfig>('saveConfig', { config } satisfies SaveConfigParams);
  }
  testDestination(destination: OffsiteConfig): Promise<TestDestinationRecord> {
    return this.one<TestDestinationRecord>('testDestination', { destination } satisfies TestDestinationParams);
  }
}

/** Shows a CiviCRM toast when CRM.alert exists; the page's own live regions carry the text anyway. */
export function notify(text: string, title: string, type: 'success' | 'error' | 'info' = 'success'): void {
  crmGlobal()?.alert?.(text, title, type);
}
