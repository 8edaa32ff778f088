/**
 * The secret key (age identity) of an encrypted set, for the one run that needs it: a text
 * field to paste the AGE-SECRET-KEY-1... line into and a file field that reads the key file
 * in the browser (FileReader). The text lives in the calling component until it sends it with
 * one API call; it is never uploaded as a file nor stored.
 */
import { html, nothing } from 'lit';
import { ts } from '../i18n.js';

/** Reads a key file the administrator picks, in the browser only. */
export function readKeyFile(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : '');
    reader.onerror = () => reject(reader.error ?? new Error('The file could not be read.'));
    reader.readAsText(file);
  });
}

export interface KeyFieldsOptions {
  /** Prefix of the element ids: `${prefix}-text`, `${prefix}-file`, `${prefix}-error`. */
  prefix: string;
  text: string;
  /** Shown under the text field and exposed as its error; '' for none. */
  error: string;
  /** Called with the field's new text, typed or read from the file. */
  onText: (text: string) => void;
  /** Id of a help text describing the field, if any. */
  describedBy?: string;
}

export function renderKeyFields(o: KeyFieldsOptions) {
  const describedBy = [o.describedBy, o.error ? `${o.prefix}-error` : undefined].filter(Boolean).join(' ');
  return html`<div class="field">
      <label for="${o.prefix}-text">${ts('Secret key (AGE-SECRET-KEY-1...)')}</label>
      <textarea
        id="${o.prefix}-text"
        rows="3"
        spellcheck="false"
        autocomplete="off"
        .value=${o.text}
        aria-invalid=${o.error ? 'true' : 'false'}
        aria-describedby=${describedBy || nothing}
        @input=${(e: Event) => o.onText((e.target as HTMLTextAreaElement).value)}
      ></textarea>
      ${o.error ? html`<span class="error" id="${o.prefix}-error">${o.error}</span>` : nothing}
    </div>
    <div class="field">
      <label for="${o.prefix}-file">${ts('Or load the key file')}</label>
      <input
        id="${o.prefix}-file"
        type="file"
        accept=".txt,.key,text/plain"
        @change=${async (e: Event) => {
          const file = (e.target as HTMLInputElement).files?.[0];
          if (file) o.onText(await readKeyFile(file));
        }}
      />
    </div>`;
}
