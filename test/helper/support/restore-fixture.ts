/**
 * A small database for the restore tests: the shapes the restorer treats specially
 * (secondary, unique, fulltext and long-hash keys deferred or not, foreign-key cycle,
 * tables without a primary key, MyISAM, generated and invisible columns, odd names,
 * several thousand rows over several tables for the parallel load) and every stored
 * object kind, each with its own sql_mode. Built with the mariadb client.
 */
import { createDatabase, mariadbCli } from './mariadb.js';

const T = '`';

export const RESTORE_FIXTURE_SQL = String.raw`
SET NAMES utf8mb4;
SET sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';

CREATE TABLE contact (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  first_name VARCHAR(64) NULL,
  last_name VARCHAR(64) NULL,
  email VARCHAR(255) NULL,
  external_id VARCHAR(64) NULL,
  employer_id INT UNSIGNED NULL,
  created DATETIME(6) NULL,
  note TEXT NULL,
  sort_name VARCHAR(128) AS (CONCAT_WS(', ', last_name, first_name)) STORED,
  hidden_flag TINYINT INVISIBLE DEFAULT 1,
  PRIMARY KEY (id),
  UNIQUE KEY UI_external_id (external_id),
  KEY index_sort_name (sort_name),
  KEY index_email (email(100)),
  KEY index_name (last_name, first_name),
  FULLTEXT KEY ft_note (note),
  CONSTRAINT FK_contact_employer FOREIGN KEY (employer_id) REFERENCES contact (id) ON DELETE SET NULL
) ENGINE=InnoDB AUTO_INCREMENT=1 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE activity (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  contact_id INT UNSIGNED NOT NULL,
  subject VARCHAR(255) NOT NULL DEFAULT '',
  details LONGTEXT,
  payload BLOB,
  amount DECIMAL(20,2) NOT NULL DEFAULT 0.00,
  PRIMARY KEY (id),
  KEY FK_activity_contact (contact_id),
  KEY index_subject (subject(50), amount),
  CONSTRAINT FK_activity_contact FOREIGN KEY (contact_id) REFERENCES contact (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- a foreign-key cycle
CREATE TABLE cycle_a (id INT PRIMARY KEY, b_id INT NULL, KEY (b_id)) ENGINE=InnoDB;
CREATE TABLE cycle_b (id INT PRIMARY KEY, a_id INT NULL, KEY (a_id), CONSTRAINT fk_b_a FOREIGN KEY (a_id) REFERENCES cycle_a (id)) ENGINE=InnoDB;
ALTER TABLE cycle_a ADD CONSTRAINT fk_a_b FOREIGN KEY (b_id) REFERENCES cycle_b (id);
INSERT INTO cycle_a VALUES (1, NULL), (2, NULL);
INSERT INTO cycle_b VALUES (1, 1), (2, 2);
UPDATE cycle_a SET b_id = id;

-- no primary key (clustered on the first UNIQUE NOT NULL), a long-hash unique, MyISAM
CREATE TABLE no_pk (code VARCHAR(10) NOT NULL, label VARCHAR(40), UNIQUE KEY code (code), KEY label (label)) ENGINE=InnoDB;
INSERT INTO no_pk VALUES ('a', 'first'), ('b', 'second');
CREATE TABLE long_unique (id INT PRIMARY KEY, body TEXT, tag VARCHAR(10), UNIQUE KEY body (body) USING HASH, KEY tag (tag)) ENGINE=InnoDB;
INSERT INTO long_unique VALUES (1, REPEAT('x', 5000), 't'), (2, 'short', NULL);
CREATE TABLE log_myisam (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50), KEY msg (msg)) ENGINE=MyISAM;
INSERT INTO log_myisam (msg) VALUES ('one'), ('two');

-- odd names
CREATE TABLE ${T}select${T} (${T}from${T} INT PRIMARY KEY, ${T}where${T} VARCHAR(20), KEY ${T}key; with semicolon${T} (${T}where${T})) ENGINE=InnoDB;
INSERT INTO ${T}select${T} VALUES (1, 'reserved; word'), (2, 'it''s');
CREATE TABLE ${T}tick${T}${T}ed ünï${T} (id INT PRIMARY KEY, ${T}va${T}${T}l${T} VARCHAR(100), KEY ${T}i${T}${T}x${T} (${T}va${T}${T}l${T})) ENGINE=InnoDB;
INSERT INTO ${T}tick${T}${T}ed ünï${T} VALUES (1, 'emoji 😀 and -- not a comment; /* nor this */');

CREATE TABLE empty_table (id INT PRIMARY KEY, note TEXT, KEY note (note(10))) ENGINE=InnoDB;

CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=InnoDB;

CREATE SEQUENCE seq_ids START WITH 100 INCREMENT BY 5;

SET sql_mode = 'ANSI_QUOTES,NO_ZERO_DATE';
DELIMITER ;;
CREATE FUNCTION strip_non_numeric(input VARCHAR(255)) RETURNS varchar(255) CHARSET utf8mb4 NO SQL DETERMINISTIC
BEGIN
  -- keep digits only; a comment with ; inside
  DECLARE output VARCHAR(255) DEFAULT '';
  DECLARE i INT DEFAULT 1;
  WHILE i <= CHAR_LENGTH(input) DO
    IF SUBSTRING(input, i, 1) BETWEEN '0' AND '9' THEN SET output = CONCAT(output, SUBSTRING(input, i, 1)); END IF;
    SET i = i + 1;
  END WHILE;
  RETURN output;
END;;
DELIMITER ;
SET sql_mode = 'STRICT_ALL_TABLES';
DELIMITER ;;
CREATE PROCEDURE ${T}count ${T}${T}contacts${T}(OUT n INT) COMMENT 'with ;; inside'
BEGIN
  SELECT COUNT(*) INTO n FROM contact;
END;;
CREATE TRIGGER contact_audit AFTER INSERT ON contact FOR EACH ROW BEGIN
  INSERT INTO audit (what) VALUES (CONCAT('contact ', NEW.id, ' 😀'));
END;;
DELIMITER ;
SET sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';
CREATE EVENT ${T}nightly purge${T} ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' ON COMPLETION PRESERVE DISABLE DO DELETE FROM audit WHERE id < 0;
CREATE VIEW v_contact AS SELECT id, sort_name, strip_non_numeric(external_id) AS digits FROM contact;
CREATE VIEW ${T}v on v${T} AS SELECT id FROM v_contact WHERE id > 1;
`;

/** Rows: `contacts` contacts with two activities each, inserted in batches. */
function rowsSql(contacts: number): string {
  const out: string[] = [];
  for (let start = 1; start <= contacts; start += 500) {
    const c: string[] = [];
    const a: string[] = [];
    for (let id = start; id < Math.min(contacts + 1, start + 500); id += 1) {
      const employer = id > 10 ? String(1 + (id % 10)) : 'NULL';
      c.push(`(${id}, 'First${id}', 'Läst ${id} 😀', 'p${id}@example.org', ${id % 3 === 0 ? 'NULL' : `'ext-${id}'`}, ${employer}, '2024-01-0${1 + (id % 9)} 12:00:00.${String(id % 1000000).padStart(6, '0')}', 'note ${id} with ''quotes'' and \\\\ backslash')`);
      a.push(`(${2 * id - 1}, ${id}, 'Call ${id}', REPEAT('details ', ${id % 40}), UNHEX(SHA2('${id}', 256)), ${id}.25)`, `(${2 * id}, ${id}, 'Meeting; ${id}', NULL, 0x00ff5c27, -${id}.50)`);
    }
    out.push(`INSERT INTO contact (id, first_name, last_name, email, external_id, employer_id, created, note) VALUES ${c.join(',')};`);
    out.push(`INSERT INTO activity (id, contact_id, subject, details, payload, amount) VALUES ${a.join(',')};`);
  }
  return out.join('\n');
}

export async function createRestoreFixture(database: string, contacts = 3000): Promise<void> {
  await createDatabase(database);
  // Not the server's default collation, as on most CiviCRM sites: a restore must keep it.
  mariadbCli(`ALTER DATABASE \`${database}\` COLLATE utf8mb4_unicode_ci;`);
  mariadbCli(`${RESTORE_FIXTURE_SQL}\nSET FOREIGN_KEY_CHECKS=0;\n${rowsSql(contacts)}\n`, database);
}
