/**
 * Last line of defence for "secrets never in logs or events": any string that looks like a
 * DSN with a password, or an age secret key, is masked before an event leaves the process.
 */
const DSN_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]+)(@)/gi;
const AGE_SECRET = /AGE-SECRET-KEY-1[0-9A-Z]+/g;
const PEM_BLOCK = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;

export function redactString(text: string): string {
  return text.replace(DSN_PASSWORD, '$1***$3').replace(AGE_SECRET, 'AGE-SECRET-KEY-***').replace(PEM_BLOCK, '[private key]');
}

export function redactSecrets<T>(value: T): T {
  if (typeof value === 'string') return redactString(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) out[key] = redactSecrets(item);
    return out as T;
  }
  return value;
}
