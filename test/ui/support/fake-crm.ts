/**
 * FAKE CRM GLOBAL. This object stands in for CiviCRM's `window.CRM` (js/Common.js,
 * js/crm.ajax.js) in the UI tests and the screenshot harness, because CiviCRM itself cannot
 * run in CI. It is not CiviCRM: it records every CRM.api4 call and answers with responses
 * (or errors) a test scripted. The real PHP side of the contract is ts-src/protocol/api.ts.
 */
import type { CrmGlobal } from '../../../ts-src/ui/api/crm-api.js';

export interface Api4Call {
  entity: string;
  action: string;
  params: Record<string, unknown>;
}

/** What an action answers: records, a function of the params, or a rejection. */
export type Scripted =
  | { records: unknown[] }
  | { reject: { error_code?: string | number; error_message: string; status?: number } | string }
  | { handle: (params: Record<string, unknown>) => unknown[] | Promise<unknown[]> }
  | { pending: Promise<unknown[]> };

export class FakeCrm implements CrmGlobal {
  readonly calls: Api4Call[] = [];
  readonly alerts: Array<{ text: string; title?: string; type?: string }> = [];
  vars: Record<string, unknown> = {};
  civibackup?: Record<string, unknown>;
  /** Per action: answers used once each, in order; the last one repeats. */
  private readonly scripts = new Map<string, Scripted[]>();

  /**
   * Scripts the answers of Backup.<action> (or of another entity's action: 'Contact.get');
   * several are used in turn, the last repeats.
   */
  on(action: string, ...answers: Scripted[]): this {
    this.scripts.set(action, answers);
    return this;
  }

  /** Calls of Backup.<action> (or 'Entity.action'). */
  callsTo(action: string): Api4Call[] {
    return this.calls.filter((c) => (c.entity === 'Backup' ? c.action : `${c.entity}.${c.action}`) === action);
  }

  api4(entity: string, action: string, params: object = {}): Promise<unknown> {
    // Deep copy: what was sent, not what the caller may mutate later.
    const recorded = JSON.parse(JSON.stringify(params)) as Record<string, unknown>;
    this.calls.push({ entity, action, params: recorded });
    const queue = this.scripts.get(entity === 'Backup' ? action : `${entity}.${action}`);
    if (!queue || queue.length === 0) {
      return Promise.reject({ error_code: 'not_scripted', error_message: `FakeCrm: no answer scripted for ${entity}.${action}` });
    }
    const answer = queue.length > 1 ? queue.shift()! : queue[0];
    if ('records' in answer) return Promise.resolve(structuredClone(answer.records));
    if ('reject' in answer) return Promise.reject(answer.reject);
    if ('pending' in answer) return answer.pending;
    return Promise.resolve().then(() => answer.handle(recorded));
  }

  alert(text: string, title?: string, type?: string): void {
    this.alerts.push({ text, title, type });
  }
}

/** Puts a fresh fake on window.CRM and returns it. */
export function installFakeCrm(): FakeCrm {
  const fake = new FakeCrm();
  (window as unknown as { CRM?: unknown }).CRM = fake;
  return fake;
}

export function removeFakeCrm(): void {
  delete (window as unknown as { CRM?: unknown }).CRM;
}

/** A promise the test resolves when it chooses (for "while pending" states). */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (reason: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
