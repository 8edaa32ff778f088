/** Thin wrapper over node:util parseArgs that turns its errors into USAGE errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BackupError } from './errors.js';

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  usage: string,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new BackupError('USAGE', `${(error as Error).message}\nusage: ${usage}`, { cause: error });
  }
}

/** Reads a secret file (passphrase, identity), trimming the trailing newline editors add. */
export function secretFromText(text: string): string {
  return text.replace(/\r?\n$/, '');
}
