/** The CLI verbs, in the order --help lists them. */
import { backupCommand } from './backup.js';
import { deleteCommand } from './delete.js';
import type { CommandModule } from './command.js';
import { keygenCommand } from './keygen.js';
import { listCommand } from './list.js';
import { pruneCommand } from './prune.js';
import { restoreCommand } from './restore.js';
import { testDestinationCommand } from './test-destination.js';
import { verifyCommand } from './verify.js';

export const COMMANDS: CommandModule[] = [backupCommand, listCommand, verifyCommand, restoreCommand, pruneCommand, deleteCommand, keygenCommand, testDestinationCommand];
