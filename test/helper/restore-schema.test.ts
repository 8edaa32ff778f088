import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planDeferredIndexes, splitDefinitions } from '../../ts-src/helper/db/restore-schema.js';
import { logicalPath, planRestore, tableOfPart } from '../../ts-src/helper/db/restore-plan.js';
import type { DatabaseRecord, Manifest, PartRecord } from '../../ts-src/protocol/manifest.js';

const CONTACT = `CREATE TABLE \`civicrm_contact\` (
  \`id\` int(10) unsigned NOT NULL AUTO_INCREMENT COMMENT 'a comment, with (parens) and a ''quote''',
  \`sort_name\` varchar(128) DEFAULT 'x,y',
  \`employer_id\` int(10) unsigned DEFAULT NULL,
  \`note\` text DEFAULT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`UI_external_identifier\` (\`external_identifier\`),
  KEY \`index_sort_name\` (\`sort_name\`),
  KEY \`FK_civicrm_contact_employer_id\` (\`employer_id\`),
  FULLTEXT KEY \`ft\` (\`note\`),
  CONSTRAINT \`FK_civicrm_contact_employer_id\` FOREIGN KEY (\`employer_id\`) REFERENCES \`civicrm_contact\` (\`id\`) ON DELETE SET NULL,
  CONSTRAINT \`positive\` CHECK (\`id\` > 0)
) ENGINE=InnoDB AUTO_INCREMENT=203 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;

test('secondary and unique keys move to one ALTER, foreign keys to another; the rest stays', () => {
  const plan = planDeferredIndexes(CONTACT);
  assert.ok(plan);
  assert.equal(plan.quotedName, '`civicrm_contact`');
  assert.match(plan.create, /PRIMARY KEY \(`id`\)/);
  assert.match(plan.create, /FULLTEXT KEY `ft`/);
  assert.match(plan.create, /CONSTRAINT `positive` CHECK/);
  assert.match(plan.create, /COMMENT 'a comment, with \(parens\) and a ''quote'''/);
  assert.doesNotMatch(plan.create, /UNIQUE KEY|KEY `index_sort_name`|FOREIGN KEY/);
  assert.match(plan.create, /\) ENGINE=InnoDB AUTO_INCREMENT=203 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci$/);
  assert.equal(
    plan.addIndexes,
    'ALTER TABLE `civicrm_contact` ADD UNIQUE KEY `UI_external_identifier` (`external_identifier`), ADD KEY `index_sort_name` (`sort_name`), ADD KEY `FK_civicrm_contact_employer_id` (`employer_id`)',
  );
  assert.equal(
    plan.addForeignKeys,
    'ALTER TABLE `civicrm_contact` ADD CONSTRAINT `FK_civicrm_contact_employer_id` FOREIGN KEY (`employer_id`) REFERENCES `civicrm_contact` (`id`) ON DELETE SET NULL',
  );
});

test('tables the restorer cannot safely change are left alone', () => {
  const noPrimary = 'CREATE TABLE `t` (\n  `a` int NOT NULL,\n  UNIQUE KEY `a` (`a`)\n) ENGINE=InnoDB';
  const myisam = 'CREATE TABLE `t` (\n  `a` int NOT NULL,\n  PRIMARY KEY (`a`),\n  KEY `b` (`a`)\n) ENGINE=MyISAM';
  const partitioned = 'CREATE TABLE `t` (\n  `a` int NOT NULL,\n  PRIMARY KEY (`a`),\n  KEY `b` (`a`)\n) ENGINE=InnoDB\n PARTITION BY HASH (`a`)\nPARTITIONS 2';
  const onlyPrimary = 'CREATE TABLE `t` (\n  `a` int NOT NULL,\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB';
  const sequence = 'CREATE SEQUENCE `s` start with 1 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB';
  for (const sql of [noPrimary, myisam, partitioned, onlyPrimary, sequence, 'SET NAMES utf8mb4']) assert.equal(planDeferredIndexes(sql), null, sql);
});

test('a long-hash UNIQUE stays in CREATE TABLE, other keys are deferred', () => {
  const plan = planDeferredIndexes('CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `body` text,\n  `tag` varchar(5),\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `body` (`body`) USING HASH,\n  KEY `tag` (`tag`)\n) ENGINE=InnoDB');
  assert.ok(plan);
  assert.match(plan.create, /UNIQUE KEY `body` \(`body`\) USING HASH/);
  assert.equal(plan.addIndexes, 'ALTER TABLE `t` ADD KEY `tag` (`tag`)');
});

test('odd identifiers: backticks, commas and parentheses inside names and defaults', () => {
  const sql = 'CREATE TABLE `we``ird, (name)` (\n  `i``d` int NOT NULL,\n  `v` varchar(10) DEFAULT \'a\\\',)\',\n  PRIMARY KEY (`i``d`),\n  KEY `k, ``x` (`v`)\n) ENGINE=InnoDB';
  const plan = planDeferredIndexes(sql);
  assert.ok(plan);
  assert.equal(plan.quotedName, '`we``ird, (name)`');
  assert.equal(plan.addIndexes, 'ALTER TABLE `we``ird, (name)` ADD KEY `k, ``x` (`v`)');
  assert.match(plan.create, /`v` varchar\(10\) DEFAULT 'a\\',\)',\n {2}PRIMARY KEY/);
});

test('splitDefinitions returns null on an unbalanced body', () => {
  assert.equal(splitDefinitions('CREATE TABLE `t` (`a` int', 17), null);
});

function part(path: string, rawBytes = 10): PartRecord {
  return { path, bytes: 1, sha256: '0'.repeat(64), rawBytes };
}

test('the plan: prelude, parts before the data, data parts with their tables, the rest in lexical order', () => {
  const parts = [
    part('db/999-postlude.sql.gz'),
    part('db/200-data-b.0002.sql.gz.age'),
    part('db/000-prelude.sql.gz'),
    part('db/800-views.sql.gz'),
    part('db/100-schema.sql.gz'),
    part('db/200-data-b.0001.sql.gz.age'),
    part('db/200-data-a-20x.sql.gz'),
    part('db/750-routines.sql.gz'),
    part('logdb/200-data-log.sql.gz'),
    part('files/custom.tar.gz'),
  ];
  const database = {
    role: 'main',
    folder: 'db',
    name: 'civi',
    tables: [
      { name: 'a x', parts: ['db/200-data-a-20x.sql.gz'] },
      { name: 'b', parts: ['db/200-data-b.0001.sql', 'db/200-data-b.0002.sql'] },
    ],
  } as unknown as DatabaseRecord;
  const manifest = { parts, databases: [database] } as unknown as Manifest;
  const plan = planRestore(manifest, database);
  assert.deepEqual(plan.prelude.map((p) => p.path), ['db/000-prelude.sql.gz']);
  assert.deepEqual(plan.before.map((p) => p.path), ['db/100-schema.sql.gz']);
  assert.deepEqual(plan.data.map((d) => [d.part.path, d.table]), [
    ['db/200-data-a-20x.sql.gz', 'a x'],
    ['db/200-data-b.0001.sql.gz.age', 'b'],
    ['db/200-data-b.0002.sql.gz.age', 'b'],
  ]);
  assert.deepEqual(plan.after.map((p) => p.path), ['db/750-routines.sql.gz', 'db/800-views.sql.gz', 'db/999-postlude.sql.gz']);
  assert.equal(plan.all.length, 8);
  assert.equal(logicalPath('db/x.sql.zst.age'), 'db/x.sql');
  assert.equal(tableOfPart(database.tables, part('db/200-data-unknown.sql.gz')), null);
});
