import { waitUntil } from '@open-wc/testing';

/** waitUntil with a generous timeout: the CI machine is a loaded 2-core box. */
export function until(condition: () => unknown, message?: string): Promise<void> {
  return waitUntil(condition, message, { timeout: 8000, interval: 20 });
}
