/**
 * The acceptance fixture of issue 3: every MariaDB column type and edge value, odd
 * identifiers, an empty table, 8 MB values, a foreign-key cycle, views on views (one calling
 * a function), a function, a procedure, triggers, an event, generated and invisible columns,
 * MyISAM, ARCHIVE, a SEQUENCE and a CiviCRM cache table. Built with the mariadb client so
 * DELIMITER blocks and the client's own session settings are those of a real install.
 */
import { mariadbCli } from './mariadb.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_v, i) => i)).toString('hex');

export const FIXTURE_SQL = String.raw`
SET NAMES utf8mb4;
SET sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION';

CREATE TABLE every_type (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT, biu BIGINT UNSIGNED,
  dec65 DECIMAL(65,30), dec10 DECIMAL(10,2) UNSIGNED ZEROFILL,
  f FLOAT, f72 FLOAT(7,2), d DOUBLE, d52 DOUBLE(5,2),
  bt1 BIT(1), bt64 BIT(64), bt10 BIT(10),
  ch CHAR(10), vc VARCHAR(255), tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  bn BINARY(4), vb VARBINARY(300), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  l1 VARCHAR(300) CHARACTER SET latin1, a1 VARCHAR(20) CHARACTER SET ascii, u3 VARCHAR(20) CHARACTER SET utf8mb3,
  js JSON, pt POINT, gm GEOMETRY, ls LINESTRING, pg POLYGON,
  dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME, tm6 TIME(6), yr YEAR,
  en ENUM('a','b','it''s','') , st SET('x','y','z'),
  i6 INET6, i4 INET4, uu UUID
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

SET sql_mode = 'NO_ENGINE_SUBSTITUTION';
INSERT INTO every_type VALUES
 (1, -128, 255, -32768, -8388608, -2147483648, -9223372036854775808, 18446744073709551615,
  '99999999999999999999999999999999999.999999999999999999999999999999', 12345678.90,
  16777216, 12345.67, 1.7976931348623157e308, 999.99,
  b'1', b'1111111111111111111111111111111111111111111111111111111111111111', b'1000000001',
  'char', 'quote '' dq " back \\ crlf \r\n tab \t nul \0 ctrl-z \Z', 'NULL', '', 'emoji 😀🎉 ñ 中文 𝔘', REPEAT('long text ', 1000),
  0x00ff00ff, 0x${ALL_BYTES}, 0x${ALL_BYTES}, 0x${ALL_BYTES}, '', 0x${ALL_BYTES},
  CONCAT(_latin1 'caf', _latin1 0x${Buffer.from(Array.from({ length: 128 }, (_v, i) => i + 128)).toString('hex')}), 'ascii', 'utf8mb3 é',
  '{"k": "v\\"q", "n": [1, 2.5e10, null, true], "u": "😀"}', POINT(1.5, -2.25), ST_GeomFromText('MULTIPOINT(1 1, 2 2)'), ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0)'), ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0))'),
  '2024-02-29', '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '-838:59:59', '838:59:59.999999', 2155,
  'it''s', 'x,z', '2001:db8::ff00:42:8329', '192.168.255.1', '123e4567-e89b-12d3-a456-426614174000'),
 (2, 127, 0, 32767, 8388607, 2147483647, 9223372036854775807, 0,
  '-99999999999999999999999999999999999.999999999999999999999999999999', 0,
  3.4028234663852886e38, -99999.99, 5e-324, -999.99,
  b'0', b'0', b'0',
  '', '', '', 'NULL', NULL, '',
  0x00000000, '', '', 0x00, '', '',
  '', '', '',
  '[]', POINT(0, 0), POINT(-1e300, 1e300), ST_GeomFromText('LINESTRING(0 0, 0 0)'), ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))'),
  '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', '1970-01-01 00:00:01.000000', '00:00:00', '-00:00:00.000001', 0,
  '', '', '::', '0.0.0.0', '00000000-0000-0000-0000-000000000000'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  '0.000000000000000000000000000001', NULL,
  -3.4028234663852886e38, NULL, -2.2250738585072014e-308, NULL,
  NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, 1901,
  NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, 0, 0, 0, 0, 1, '-0.0', 0, -0.0, 0.01, -0.0, 0, NULL, NULL, NULL,
  'NULL', 'null', NULL, NULL, NULL, NULL, NULL, 0x4e554c4c, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  '"just a string"', NULL, NULL, NULL, NULL, '1970-01-01', NULL, NULL, NULL, NULL, NULL, NULL, 'b', 'x,y,z', NULL, NULL, NULL),
 (5, 1, 1, 1, 1, 1, 1, 1, '1', 1, 0.1, 0.1, 0.1, 0.1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, 2, 2, 2, 2, 2, 2, 2, '2', 2, 1.17549435e-38, 1, 0.30000000000000004, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, 3, 3, 3, 3, 3, 3, 3, '3', 3, 1.4e-45, 2, 123456789012345680000, 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (8, 4, 4, 4, 4, 4, 4, 4, '4', 4, 16777217, 3, 9007199254740993, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

SET sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION';

-- odd identifiers: reserved words, spaces, backticks, unicode
CREATE TABLE ${'`'}select${'`'} (${'`'}from${'`'} INT PRIMARY KEY, ${'`'}where${'`'} VARCHAR(20), ${'`'}order${'`'} INT) ENGINE=InnoDB;
INSERT INTO ${'`'}select${'`'} VALUES (1, 'reserved', 2);
CREATE TABLE ${'`'}table with spaces${'`'} (${'`'}col with space${'`'} INT PRIMARY KEY, ${'`'}back${'`'}${'`'}tick${'`'} VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO ${'`'}table with spaces${'`'} VALUES (1, 'a'), (2, 'b');
CREATE TABLE ${'`'}back${'`'}${'`'}tick${'`'}${'`'}table${'`'} (id INT PRIMARY KEY, ${'`'}ü col${'`'} TEXT) ENGINE=InnoDB;
INSERT INTO ${'`'}back${'`'}${'`'}tick${'`'}${'`'}table${'`'} VALUES (1, 'x');
CREATE TABLE ${'`'}ünïcödé 表${'`'} (id INT PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO ${'`'}ünïcödé 表${'`'} VALUES (7);

CREATE TABLE empty_table (id INT PRIMARY KEY, note TEXT) ENGINE=InnoDB;

-- 8 MB values: binary and multibyte text, with and without a primary key
CREATE TABLE big_values (id INT PRIMARY KEY, payload LONGBLOB, body LONGTEXT, small INT) ENGINE=InnoDB;
INSERT INTO big_values VALUES (1, CONCAT(0x${ALL_BYTES}, REPEAT(UNHEX(SHA2('civibackup', 256)), 262144)), 'small', 1);
INSERT INTO big_values VALUES (2, 0x01, REPEAT('é😀x\'\\', 1000000), 2);
INSERT INTO big_values VALUES (3, REPEAT(0x00ff, 1500000), REPEAT('ü\r\n', 1000000), 3);
INSERT INTO big_values VALUES (4, NULL, NULL, NULL);
CREATE TABLE big_no_key (payload LONGBLOB) ENGINE=InnoDB;
INSERT INTO big_no_key VALUES (REPEAT(0x5c27, 4194304)), (0x00), (NULL);

-- a foreign-key cycle
CREATE TABLE fk_a (id INT PRIMARY KEY, b_id INT NULL, KEY (b_id)) ENGINE=InnoDB;
CREATE TABLE fk_b (id INT PRIMARY KEY, a_id INT NULL, KEY (a_id), CONSTRAINT fk_b_a FOREIGN KEY (a_id) REFERENCES fk_a (id)) ENGINE=InnoDB;
ALTER TABLE fk_a ADD CONSTRAINT fk_a_b FOREIGN KEY (b_id) REFERENCES fk_b (id);
INSERT INTO fk_a VALUES (1, NULL);
INSERT INTO fk_b VALUES (1, 1);
UPDATE fk_a SET b_id = 1 WHERE id = 1;

-- generated and invisible columns
CREATE TABLE gen_cols (
  id INT PRIMARY KEY,
  price DECIMAL(10,2),
  qty INT,
  total_stored DECIMAL(12,2) AS (price * qty) STORED,
  total_virtual DECIMAL(12,2) AS (price * qty) VIRTUAL,
  secret VARCHAR(20) INVISIBLE DEFAULT 'dflt',
  KEY (total_stored)
) ENGINE=InnoDB;
INSERT INTO gen_cols (id, price, qty, secret) VALUES (1, 2.50, 4, 'hidden'), (2, NULL, 1, NULL), (3, 1, 1, DEFAULT);

-- non-transactional engines and a sequence
CREATE TABLE log_myisam (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50)) ENGINE=MyISAM;
INSERT INTO log_myisam (msg) VALUES ('one'), ('two');
CREATE TABLE log_archive (id INT, msg VARCHAR(50), at DATETIME) ENGINE=ARCHIVE;
INSERT INTO log_archive VALUES (1, 'archived', '2024-01-01 00:00:00'), (2, NULL, NULL);
CREATE TABLE log_aria (id INT PRIMARY KEY, msg TEXT) ENGINE=Aria;
INSERT INTO log_aria VALUES (1, 'aria');
CREATE SEQUENCE seq_ids START WITH 100 INCREMENT BY 5 CACHE 10;
DO NEXTVAL(seq_ids);
DO NEXTVAL(seq_ids);

-- a CiviCRM cache table: structure kept, data skipped by default
CREATE TABLE civicrm_cache (id INT PRIMARY KEY, data LONGTEXT) ENGINE=InnoDB;
INSERT INTO civicrm_cache VALUES (1, 'cached');

-- stored objects with their own sql_mode and character set
SET sql_mode = 'ANSI_QUOTES,NO_ZERO_DATE';
DELIMITER ;;
CREATE FUNCTION civicrm_strip_non_numeric(input VARCHAR(255) CHARACTER SET utf8mb4) RETURNS varchar(255) CHARSET utf8mb4
    NO SQL DETERMINISTIC
BEGIN
  DECLARE output VARCHAR(255) DEFAULT '';
  DECLARE iterator INT DEFAULT 1;
  WHILE iterator < (LENGTH(input) + 1) DO
    IF SUBSTRING(input, iterator, 1) IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9') THEN
      SET output = CONCAT(output, SUBSTRING(input, iterator, 1));
    END IF;
    SET iterator = iterator + 1;
  END WHILE;
  RETURN output;
END;;
DELIMITER ;
SET sql_mode = 'STRICT_ALL_TABLES';
DELIMITER ;;
CREATE DEFINER=CURRENT_USER PROCEDURE ${'`'}proc with ${'`'}${'`'}tick${'`'}(IN x INT, OUT y TEXT)
  SQL SECURITY INVOKER
  COMMENT 'a procedure; with ;; inside'
BEGIN
  SELECT CONCAT('got ', x, ' ;; ok') INTO y;
END;;
DELIMITER ;
SET sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION';

CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=InnoDB;
DELIMITER ;;
CREATE TRIGGER ${'`'}tr${'`'}${'`'}ick ins${'`'} BEFORE INSERT ON ${'`'}select${'`'} FOR EACH ROW BEGIN
  INSERT INTO audit (what) VALUES (CONCAT('insert ', NEW.${'`'}from${'`'}, ' 😀'));
END;;
CREATE TRIGGER second_ins BEFORE INSERT ON ${'`'}select${'`'} FOR EACH ROW SET NEW.${'`'}order${'`'} = NEW.${'`'}order${'`'} + 0;;
CREATE TRIGGER first_ins BEFORE INSERT ON ${'`'}select${'`'} FOR EACH ROW PRECEDES ${'`'}tr${'`'}${'`'}ick ins${'`'} SET NEW.${'`'}where${'`'} = IFNULL(NEW.${'`'}where${'`'}, 'none');;
CREATE TRIGGER upd_audit AFTER UPDATE ON every_type FOR EACH ROW INSERT INTO audit (what) VALUES ('update');;
DELIMITER ;
SET time_zone = '+05:30';
CREATE EVENT ${'`'}nightly ${'`'}${'`'}event${'`'} ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' ON COMPLETION PRESERVE DISABLE COMMENT 'purge' DO DELETE FROM audit WHERE id < 0;
SET time_zone = SYSTEM;

-- views on views, one calling the function
CREATE VIEW v_base AS SELECT id, vc, civicrm_strip_non_numeric(vc) AS digits FROM every_type;
CREATE VIEW ${'`'}v on ${'`'}${'`'}base${'`'} AS SELECT id, digits FROM v_base WHERE id > 0;
CREATE VIEW a_top_view AS SELECT v.id FROM ${'`'}v on ${'`'}${'`'}base${'`'} v JOIN ${'`'}select${'`'} s ON s.${'`'}from${'`'} = v.id;
CREATE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW v_checked AS SELECT id, ti FROM every_type WHERE ti > 0 WITH CASCADED CHECK OPTION;
`;

/** Creates the fixture in an existing empty database. */
export function createFixture(database: string): void {
  mariadbCli(FIXTURE_SQL, database);
}
