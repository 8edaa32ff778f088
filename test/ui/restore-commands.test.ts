import { expect } from '@open-wc/testing';
import { restoreCommands, shellQuote } from '../../ts-src/ui/set-detail/restore-commands.js';
import { sampleDedupSets, sampleSets } from './support/sample-data.js';

describe('restore commands (pure)', () => {
  it('plain set: zcat into mariadb, tar for each directory, the helper with the DSN from the environment', () => {
    const set = sampleSets()[2];
    const byId = Object.fromEntries(restoreCommands(set).map((c) => [c.id, c.command]));
    expect(byId['plain-db']).to.equal(
      `SET=${set.location}\nexport LC_ALL=C\nmariadb -e 'CREATE DATABASE DBNAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'\nzcat "$SET"/db/*.sql.gz | mariadb DBNAME`,
    );
    // Read from the set, extracted into ./restored: never written inside the backup set.
    expect(byId['plain-files-custom']).to.equal(`SET=${set.location}\nmkdir -p restored/custom\ntar -xzf "$SET"/files/custom.tar.gz -C restored/custom`);
    expect(byId['helper']).to.contain(`civibackup restore ${set.location}`);
    expect(byId['helper']).to.contain("export CIVIBACKUP_DSN='mysql://USER:PASSWORD@localhost/DBNAME'");
    expect(byId['helper']).to.not.contain('--identity');
    expect(byId['plain-logdb']).to.equal(undefined);
  });

  it('encrypted set with a logging database: age -d per part, then gunzip; identity for the helper', () => {
    const set = sampleSets()[0];
    const byId = Object.fromEntries(restoreCommands(set).map((c) => [c.id, c.command]));
    // docs/format.md section 8, with the set named once as $SET.
    expect(byId['plain-db']).to.contain('set -o pipefail\n');
    expect(byId['plain-db']).to.contain('for f in "$SET"/db/*.sql.gz.age; do age -d -i key.txt "$f" | zcat || exit 1; done | mariadb DBNAME');
    expect(byId['plain-logdb']).to.contain('for f in "$SET"/logdb/*.sql.gz.age; do age -d -i key.txt "$f" | zcat || exit 1; done | mariadb LOGGING_DBNAME');
    expect(byId['plain-files-images']).to.contain('age -d -i key.txt "$SET"/files/images.tar.gz.age | tar -xzf - -C restored/images');
    expect(byId['helper']).to.contain('--identity key.txt');
    expect(byId['helper']).to.contain('--files custom=/path/to/custom');
    expect(byId['helper']).to.contain('CIVIBACKUP_LOGGING_DSN');
  });

  it('runs the helper by its path on this server when the page knows it', () => {
    const set = sampleSets()[2];
    const helper = restoreCommands(set, "/srv/civicrm/ext/civi backup/dist/civibackup.mjs").find((c) => c.id === 'helper')!;
    expect(helper.command).to.contain(`node '/srv/civicrm/ext/civi backup/dist/civibackup.mjs' restore ${set.location}`);
  });

  it('a deduplicated set: the helper, and the plain-tool recipe of docs/disaster-recovery.md with the destination and set id filled in', () => {
    const set = sampleDedupSets()[0];
    const commands = restoreCommands(set);
    expect(commands.map((c) => c.id)).to.deep.equal(['helper', 'plain-recipe']);
    const recipe = commands[1].command;
    expect(recipe).to.contain('docs/disaster-recovery.md');
    expect(recipe).to.contain('DEST=/var/backups/civicrm\n');
    expect(recipe).to.contain(`SET_ID=${set.setId}`);
  });

  it('quotes paths for the shell', () => {
    expect(shellQuote('/var/backups/x')).to.equal('/var/backups/x');
    expect(shellQuote("/tmp/it's here")).to.equal(`'/tmp/it'\\''s here'`);
  });
});
