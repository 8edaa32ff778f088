import { open } from 'node:fs/promises';
import { parseCommandArgs } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import { generateIdentity } from '../crypto/age-stream.js';
import type { CommandModule } from './command.js';

export const keygenCommand: CommandModule = {
  name: 'keygen',
  summary: 'Create an age X25519 identity file (mode 0600) and print its recipient',
  usage: 'civibackup keygen --out FILE [--json]',
  async run({ args, print }) {
    const { values } = parseCommandArgs(args, { out: { type: 'string', short: 'o' } }, this.usage, false);
    if (!values.out) throw new BackupError('USAGE', `keygen needs --out FILE.\nusage: ${this.usage}`);
    const { identity, recipient } = await generateIdentity();
    let handle;
    try {
      handle = await open(values.out, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new BackupError('USAGE', `${values.out} exists; keygen never overwrites a key.`);
      throw error;
    }
    await handle.writeFile(`# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`);
    await handle.sync();
    await handle.close();
    print(recipient);
    return { summary: { recipient, identityFile: values.out } };
  },
};
