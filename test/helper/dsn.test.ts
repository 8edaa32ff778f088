import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDsn, extractDefine, parseDsn, resolveDsn } from '../../ts-src/helper/db/dsn.js';
import { BackupError } from '../../ts-src/helper/core/errors.js';

test('parses CiviCRM DSNs: host, port, query options ignored', () => {
  const dsn = parseDsn('mysql://civi:secret@db.example.org:3307/civicrm?new_link=true');
  assert.deepEqual(
    { user: dsn.user, password: dsn.password, host: dsn.host, port: dsn.port, database: dsn.database, socketPath: dsn.socketPath },
    { user: 'civi', password: 'secret', host: 'db.example.org', port: 3307, database: 'civicrm', socketPath: undefined },
  );
  assert.deepEqual(dsn.ignoredOptions, ['new_link']);
});

test('mysqli scheme and host without port', () => {
  const dsn = parseDsn('mysqli://u:p@localhost/db');
  assert.equal(dsn.host, 'localhost');
  assert.equal(dsn.port, undefined);
  assert.equal(dsn.database, 'db');
});

test('URL-encoded user and password, and an unencoded @ in the password (PEAR takes the last @)', () => {
  const dsn = parseDsn('mysql://us%40er:p%40ss%3Aw%2Fo%25rd@127.0.0.1/civi');
  assert.equal(dsn.user, 'us@er');
  assert.equal(dsn.password, 'p@ss:w/o%rd');
  assert.equal(parseDsn('mysql://u:a@b@h/d').password, 'a@b');
});

test('unix socket form', () => {
  const dsn = parseDsn('mysql://u:p@unix(/run/mysqld/mysqld.sock)/civicrm?new_link=true');
  assert.equal(dsn.socketPath, '/run/mysqld/mysqld.sock');
  assert.equal(dsn.host, undefined);
  assert.equal(dsn.database, 'civicrm');
  assert.equal(describeDsn(dsn), 'u@unix(/run/mysqld/mysqld.sock)/civicrm');
});

test('empty password and no password', () => {
  assert.equal(parseDsn('mysql://root@127.0.0.1/x').password, '');
  assert.equal(parseDsn('mysql://root:@127.0.0.1/x').password, '');
});

test('describeDsn never shows the password', () => {
  const text = describeDsn(parseDsn('mysql://civi:TopSecret@h:3306/db'));
  assert.equal(text, 'civi@h:3306/db');
  assert.ok(!text.includes('TopSecret'));
});

test('malformed DSNs are CONFIG errors that do not echo the password', () => {
  for (const bad of ['postgres://u:pw123@h/d', 'mysql://u:pw123@h', 'mysql://u:pw123@h/', 'mysql://:pw123@h/d', 'mysql://u:pw123@h:99999/d', 'mysql://u:%zz@h/d']) {
    assert.throws(
      () => parseDsn(bad),
      (e: unknown) => e instanceof BackupError && e.code === 'CONFIG' && !e.message.includes('pw123'),
      bad,
    );
  }
});

test('extracts CIVICRM_DSN from settings PHP without running it, both quote styles', () => {
  const php = `<?php
// define('CIVICRM_DSN', 'mysql://old:old@h/old');
/* define('CIVICRM_DSN', 'mysql://older:x@h/x'); */
# define( 'CIVICRM_DSN' , "mysql://hash:x@h/x" );
if (!defined('CIVICRM_DSN')) {
  define( 'CIVICRM_DSN' , 'mysql://civi:it\\'s@localhost:3306/civicrm?new_link=true' );
}
define("CIVICRM_LOGGING_DSN", "mysql://log:p\\$w@localhost/civilog?new_link=true");
`;
  assert.equal(extractDefine(php, 'CIVICRM_DSN'), "mysql://civi:it's@localhost:3306/civicrm?new_link=true");
  assert.equal(extractDefine(php, 'CIVICRM_LOGGING_DSN'), 'mysql://log:p$w@localhost/civilog?new_link=true');
  assert.equal(extractDefine(php, 'CIVICRM_UF_DSN'), undefined);
});

test('a computed CIVICRM_DSN is refused with a pointer to the environment variable', () => {
  const php = `<?php define('CIVICRM_DSN', 'mysql://' . getenv('DBUSER') . '@h/db');`;
  assert.throws(() => extractDefine(php, 'CIVICRM_DSN'), (e: unknown) => e instanceof BackupError && e.code === 'CONFIG' && /CIVIBACKUP_DSN/.test(e.message));
});

test('resolution order: --db, then environment, then settings file; argv password warns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cbt-dsn-'));
  try {
    const settings = join(dir, 'civicrm.settings.php');
    writeFileSync(settings, `<?php define('CIVICRM_DSN', 'mysql://fromfile:x@h/filedb?new_link=true&ssl_ca=/x');`);
    const env = { CIVIBACKUP_DSN: 'mysql://fromenv:y@h/envdb', OTHER: 'mysql://other@h/otherdb' };
    const flag = await resolveDsn({ flag: 'mysql://flag:z@h/flagdb', env, settingsFile: settings, role: 'main' });
    assert.equal(flag?.dsn.database, 'flagdb');
    assert.match(flag?.warnings.join('\n') ?? '', /visible to other users/);
    assert.equal((await resolveDsn({ env, settingsFile: settings, role: 'main' }))?.dsn.database, 'envdb');
    assert.equal((await resolveDsn({ env, envName: 'OTHER', settingsFile: settings, role: 'main' }))?.dsn.database, 'otherdb');
    const fromFile = await resolveDsn({ env: {}, settingsFile: settings, role: 'main' });
    assert.equal(fromFile?.dsn.database, 'filedb');
    assert.match(fromFile?.warnings.join('\n') ?? '', /ssl_ca/);
    assert.equal(await resolveDsn({ env: {}, settingsFile: settings, role: 'logging' }), undefined);
    assert.equal(await resolveDsn({ env: {}, role: 'main' }), undefined);
    const noPassword = await resolveDsn({ flag: 'mysql://root@h/db', env: {}, role: 'main' });
    assert.deepEqual(noPassword?.warnings, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
