/**
 * Retries transient destination failures (dropped connection, timeout, 5xx, throttling) with
 * exponential backoff and jitter, a bounded number of times. Auth failures, missing objects,
 * damage and cancellation are passed through at once: trying again cannot help them.
 * A wrapper implementing Destination, like restic's RetryBackend.
 *
 * `load` retries opening the object only: once bytes flow to the caller, a cut is the caller's
 * error (a verify or restore reports it and can be run again).
 */
import type { Readable } from 'node:stream';
import { isTransient, type Destination, type ObjectInfo, type SaveOptions, type SaveSource } from './destination.js';

export interface RetryOptions {
  /** Total attempts per operation, the first included (default 5). */
  attempts?: number;
  /** Delay before the 2nd attempt; doubled each time (default 1 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Told about each retry, e.g. to emit a warning event. */
  onRetry?: (info: { operation: string; key: string; attempt: number; delayMs: number; error: Error }) => void;
  signal?: AbortSignal;
  /** Injected by tests. */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class RetryingDestination implements Destination {
  readonly location: string;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    readonly inner: Destination,
    private readonly options: RetryOptions = {},
  ) {
    this.location = inner.location;
    this.attempts = Math.max(1, options.attempts ?? 5);
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
  }

  /** Backoff before attempt n+1: base * 2^(n-1), capped, with "equal jitter" (half fixed, half random). */
  delayFor(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (ceiling / 2) * (this.options.random ?? Math.random)());
  }

  private async withRetry<T>(operation: string, key: string, run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await run();
      } catch (error) {
        if (!isTransient(error) || attempt >= this.attempts || this.options.signal?.aborted) {
          if (isTransient(error) && attempt >= this.attempts) {
            (error as Error).message += ` (gave up after ${attempt} attempts)`;
          }
          throw error;
        }
        const delayMs = this.delayFor(attempt);
        this.options.onRetry?.({ operation, key, attempt, delayMs, error: error as Error });
        await (this.options.sleep ?? defaultSleep)(delayMs, this.options.signal);
      }
    }
  }

  save(key: string, source: SaveSource, options?: SaveOptions): Promise<void> {
    return this.withRetry('save', key, () => this.inner.save(key, source, options));
  }
  load(key: string): Promise<Readable> {
    return this.withRetry('load', key, () => this.inner.load(key));
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.withRetry('list', prefix, () => this.inner.list(prefix));
  }
  stat(key: string): Promise<ObjectInfo | null> {
    return this.withRetry('stat', key, () => this.inner.stat(key));
  }
  remove(key: string): Promise<void> {
    return this.withRetry('remove', key, () => this.inner.remove(key));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
