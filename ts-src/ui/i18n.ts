/**
 * Every user-facing string of the page goes through CiviCRM's ts(), so translators see it.
 * CRM.ts('civibackup') binds the extension's translation domain; the global ts() is the
 * fallback; when neither exists (tests, the screenshot harness) the text is returned as is,
 * with CiviCRM's %1, %2 placeholders filled in.
 */
export type TranslateParams = Record<string, string | number>;
type TsFunction = (text: string, params?: TranslateParams) => string;

interface TranslationGlobals {
  CRM?: { ts?: (domain?: string) => TsFunction };
  ts?: TsFunction;
}

function fillPlaceholders(text: string, params?: TranslateParams): string {
  if (!params) return text;
  return text.replace(/%(\d+)/g, (whole, n: string) => (n in params ? String(params[n]) : whole));
}

function resolveTranslator(): TsFunction {
  const g = globalThis as unknown as TranslationGlobals;
  if (typeof g.CRM?.ts === 'function') {
    const bound = g.CRM.ts('civibackup');
    if (typeof bound === 'function') return bound;
  }
  if (typeof g.ts === 'function') return g.ts;
  return fillPlaceholders;
}

/**
 * Translates `text`; `params` fill %1, %2 ... ({1: value}). Resolved per call because
 * CiviCRM may define ts() after this bundle was evaluated. Named ts() like CiviCRM's own, so
 * string extraction (civistrings) run over ts-src/ui finds the calls.
 */
export function ts(text: string, params?: TranslateParams): string {
  const translated = resolveTranslator()(text, params);
  // CiviCRM's ts() fills placeholders itself; the fallback and some shims do not.
  return fillPlaceholders(translated, params);
}
