/** The CLI verbs, in the order --help lists them. */
import type { CommandModule } from './command.js';
import { keygenCommand } from './keygen.js';
import { listCommand } from './list.js';

export const COMMANDS: CommandModule[] = [listCommand, keygenCommand];
