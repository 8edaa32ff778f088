/**
 * After a database restore: asks CiviCRM a cheap question (one contact id) until it answers,
 * so the page can say when the site is back. A refusal because nobody is logged in any more
 * also means the site answers: the restore replaced the sessions, and the administrator has
 * to log in again.
 */
import { isLoggedOut, type BackupApi } from '../api/crm-api.js';

export { isLoggedOut };

export type SiteAnswer = 'back' | 'logged-out';

/**
 * Resolves when the site answers (or says the visitor must log in again); retries every
 * intervalMs meanwhile, with `onAttempt` told each failed try. Stops quietly when `signal` aborts.
 */
export async function waitForSite(api: BackupApi, intervalMs: number, signal: AbortSignal, onAttempt: (attempt: number) => void = () => {}): Promise<SiteAnswer | null> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await api.siteAnswers();
      return signal.aborted ? null : 'back';
    } catch (error) {
      if (signal.aborted) return null;
      if (isLoggedOut(error)) return 'logged-out';
      onAttempt(attempt);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
  return null;
}
