/**
 * Generates a CiviCRM-shaped database for benchmarks, demos and tests: CiviCRM 6.17's real
 * table definitions (bench/civicrm-schema.ts) with their indexes and foreign keys, the
 * `civicrm_strip_non_numeric` function and the civicrm_phone triggers that call it, the
 * relationship-cache triggers, multilingual-style views, an ARCHIVE log table, and rows that
 * look like a real site's (accents, emoji, \x01-separated values, DECIMAL money, doubles,
 * dates, NUL bytes in serialized PHP, binary documents, a few multi-megabyte rows).
 *
 * Rows are made by the server itself (INSERT ... SELECT from MariaDB's SEQUENCE engine), so
 * `--scale 1` (628 MB of SQL as mariadb-dump writes it, 0.93 GB of InnoDB data and indexes) takes
 * about a minute on 2 cores and `--scale 0.005` a few seconds.
 * Values are derived from the row number, so two runs at one scale give the same rows
 * (except the random bytes of civicrm_file.document).
 *
 *   npx tsx bench/civicrm-sample.ts --database NAME [--scale 1] [--dsn mysql://root@127.0.0.1:3306] [--force]
 */
import mysql from 'mysql2/promise';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CIVICRM_TABLES } from './civicrm-schema.js';

/** Bumped whenever the generated content changes, so a reused database is regenerated. */
export const SAMPLE_VERSION = 1;
const MARKER_PREFIX = 'civibackup-sample';

export interface SampleOptions {
  /** mysql://user:password@host:port (no database); default mysql://root@127.0.0.1:3306. Ignored when `connection` is given. */
  dsn?: string;
  /** An open connection to use instead of `dsn` (its session settings are changed). */
  connection?: mysql.Connection;
  database: string;
  /** 1 is about 630 MB of SQL / 0.93 GB on disk; row counts are linear in it (plus a few constant multi-MB rows). */
  scale: number;
  /** Drop and regenerate even when a database with the same marker exists. */
  force?: boolean;
  /** Leave out the few multi-megabyte rows (7 MiB documents, 8 MiB activity details). */
  withoutHugeRows?: boolean;
  /** Called with a short line per step. */
  log?: (line: string) => void;
}

export interface SampleResult {
  database: string;
  scale: number;
  /** False when an existing database with the same marker was kept. */
  generated: boolean;
  rows: Record<string, number>;
  seconds: number;
}

/** Row counts at a scale; every count is at least 1 so even tiny scales exercise every table. */
export function sampleRowCounts(scale: number): Record<string, number> {
  const contacts = Math.max(20, Math.round(110_000 * scale));
  const n = (perContact: number) => Math.max(1, Math.round(contacts * perContact));
  const huge = Math.max(1, Math.round(2 * scale));
  return {
    civicrm_contact: contacts,
    civicrm_email: n(1.2),
    civicrm_phone: n(1.0),
    civicrm_address: n(1.0),
    civicrm_contribution: n(3.0),
    civicrm_activity: n(2.0),
    civicrm_activity_contact: n(2.0) * 2,
    civicrm_group: Math.max(4, Math.round(50 + 150 * scale)),
    civicrm_group_contact: contacts * 2,
    civicrm_entity_tag: contacts,
    civicrm_note: n(0.5),
    civicrm_log: n(1.5),
    civicrm_cache: n(0.03),
    civicrm_acl_cache: n(1.0),
    civicrm_group_contact_cache: contacts * 2,
    civicrm_prevnext_cache: n(0.25),
    civicrm_relationship: n(0.5),
    civicrm_relationship_cache: n(0.5) * 2,
    civicrm_file: n(0.1),
    civicrm_entity_file: n(0.1),
    civicrm_mailing_event_queue: n(3.0),
    civicrm_mailing_event_delivered: n(2.5),
    log_civicrm_contact: n(0.5),
    hugeDocuments: huge,
    hugeActivities: huge,
  };
}

export function parseDsn(dsn: string): mysql.ConnectionOptions {
  const url = new URL(dsn);
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') throw new Error(`DSN must start with mysql://, got ${url.protocol}`);
  return {
    host: url.hostname || '127.0.0.1',
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password || ''),
  };
}

export const DEFAULT_DSN = 'mysql://root@127.0.0.1:3306';

/** The marker stored in the schema comment: invisible to dumps, read back to decide reuse. */
function markerFor(scale: number, withoutHugeRows: boolean): string {
  return `${MARKER_PREFIX} v${SAMPLE_VERSION} scale=${scale}${withoutHugeRows ? ' nohuge' : ''}`;
}

const q = (name: string) => '`' + name.replace(/`/g, '``') + '`';

/** Picks one of `values` by a SQL integer expression: ELT(1 + expr % n, ...). */
function pick(expr: string, values: readonly string[]): string {
  const literals = values.map((v) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`);
  return `ELT(1 + (${expr}) % ${values.length}, ${literals.join(', ')})`;
}

/** A scrambled but deterministic non-negative integer from a row number (Knuth's multiplicative hash). */
const mix = (expr: string, salt = 0) => `((${expr}) * 2654435761 + ${salt * 40503 + 12345}) % 4294967291`;

const FIRST_NAMES = [
  'Ana', 'José', 'Zoë', 'Łukasz', 'Søren', 'Chloé', 'Mohammed', 'Aoife', 'Björn', 'Noémie',
  'Jürgen', 'Siobhán', 'François', 'Dóra', 'Ngọc', '美咲', 'Ольга', 'Renée 🌻', 'Kai', 'Émile',
  'Maria', 'John', 'Fatima', 'Priya', 'Oluwaseun', 'Mateo', 'Sofía', 'Liam', 'Olivia', 'Ðorđe',
  'Thảo', 'Anaïs', 'Ångström', 'Zoltán', 'Inês', 'Kateřina', 'Nuñez', "D'Arcy", 'Mary-Jane', 'Rosa 🌹',
];
const ASCII_FIRST = ['ana', 'jose', 'zoe', 'lukasz', 'soren', 'chloe', 'mohammed', 'aoife', 'bjorn', 'noemie', 'juergen', 'maria', 'john', 'fatima', 'priya'];
const LAST_NAMES = [
  'García', 'Müller', "O'Brien", 'Nguyễn', 'Kowalski', 'Smith', 'Dubois', 'Øster', 'Johansson', 'Łęcki',
  'Fernández', 'Rossi', 'van der Berg', 'Schröder', 'Jones', '山田', 'Иванова', 'Ó Súilleabháin', 'Papadopoulos', 'Çelik',
  'Brown', 'Williams', 'Martínez', 'Novák', 'Kim', 'Singh', 'Haddad', 'Nowak', 'Lefèvre', 'Gonçalves 🎸',
];
const ORG_WORDS = ['Friends of', 'Association', 'Société', 'Verein', 'Fundación', 'Trust', 'Coöperative', 'Club 🎭', 'Initiative', 'Network'];
const DOMAINS = ['example.org', 'mail.example.com', 'exämple.de', 'example.fr', 'posteo.example', 'uni.example.edu'];
const STREETS = ['Rue de la Paix', 'Königstraße', 'Calle Mayor', 'Main Street', 'Ulica Długa', 'Via Roma', 'Åsgatan', 'High Street', 'Avenida São João', 'Praça do Comércio'];
const STREET_TYPES = ['St', 'Ave', 'Rd', 'Blvd', 'Way', 'Ln'];
const CITIES = ['Montréal', 'São Paulo', 'Zürich', 'Kraków', 'Reykjavík', 'Springfield', '東京', 'Łódź', 'Nürnberg', 'Québec', 'Malmö', 'Bogotá', 'Göteborg', 'Ålesund', 'Córdoba'];
const SOURCES = ['Import 2019', 'Online signup', 'Event: Gala 🎉', 'Petition “Clean rivers”', 'Walk-in', 'Newsletter form', 'Müller list (2016)'];
const SUBJECTS = ['Meeting about the spring appeal 🌸', 'Phone call: renewal', 'Thank-you letter sent', 'E-mail: “Your membership”', 'Follow-up — volunteer shift', 'Réunion du conseil', 'Besuch im Büro', 'Bulk e-mail 📧'];
const PARAGRAPH =
  'Spoke with the contact about next year’s campaign. They’d like fewer mailings — e-mail only, please. ' +
  'Notes: «très intéressé» par le bénévolat; möchte den Newsletter auf Deutsch; 寄付の領収書を送付済み. ' +
  'Follow up in March 📅. Quote: "we\'ll see" \\ backslash, tab\there, 100% sure; C:\\path\\file.txt. ';

const HUGE_DOCUMENT_BYTES = 7 * 1024 * 1024;
const HUGE_DETAILS_BYTES = 8 * 1024 * 1024;

/** Creates (or reuses) the sample database. */
export async function createSampleDatabase(options: SampleOptions): Promise<SampleResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const { database, scale } = options;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`scale must be a positive number, got ${scale}`);
  const withoutHugeRows = options.withoutHugeRows ?? false;
  const counts = sampleRowCounts(scale);
  const ownConnection = options.connection
    ? undefined
    : await mysql.createConnection({ ...parseDsn(options.dsn ?? DEFAULT_DSN), charset: 'utf8mb4_unicode_ci', multipleStatements: false });
  const conn = options.connection ?? ownConnection!;
  const run = async (sql: string) => {
    await conn.query(sql);
  };
  try {
    const marker = markerFor(scale, withoutHugeRows);
    const [existing] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT SCHEMA_COMMENT AS c FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [database],
    );
    if (existing.length > 0 && existing[0]!.c === marker && !options.force) {
      log(`${database}: reusing (${marker})`);
      return { database, scale, generated: false, rows: counts, seconds: (Date.now() - started) / 1000 };
    }
    await ensureArchiveEngine(conn, log);
    // The session CiviCRM itself would use: utf8mb4, the server's default sql_mode (stored
    // with triggers and routines), no checks while bulk loading.
    await run('SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci');
    await run('SET SESSION sql_mode = @@GLOBAL.sql_mode');
    await run('SET SESSION foreign_key_checks = 0');
    await run('SET SESSION unique_checks = 0');
    await run(`DROP DATABASE IF EXISTS ${q(database)}`);
    await run(`CREATE DATABASE ${q(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await run(`USE ${q(database)}`);

    log(`${database}: creating ${CIVICRM_TABLES.length} tables`);
    for (const table of CIVICRM_TABLES) await run(table.create);
    for (const table of CIVICRM_TABLES) {
      if (table.foreignKeys.length > 0) {
        await run(`ALTER TABLE ${q(table.name)} ${table.foreignKeys.map((fk) => `ADD ${fk}`).join(', ')}`);
      }
    }
    await run(logContactTableDdl(CIVICRM_TABLES.find((t) => t.name === 'civicrm_contact')!.create));

    for (const [label, sql] of dataStatements(counts, withoutHugeRows)) {
      const t0 = Date.now();
      await run(sql);
      log(`${database}: ${label} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }

    // Routines, triggers and views after the data, as a restore would: the triggers would
    // otherwise run for every generated row.
    await run(STRIP_FUNCTION);
    for (const trigger of triggerStatements()) await run(trigger);
    for (const view of viewStatements()) await run(view);
    await run('ANALYZE TABLE ' + CIVICRM_TABLES.map((t) => q(t.name)).join(', '));
    await run(`ALTER DATABASE ${q(database)} COMMENT '${marker}'`);
    const seconds = (Date.now() - started) / 1000;
    log(`${database}: generated at scale ${scale} in ${seconds.toFixed(1)} s`);
    return { database, scale, generated: true, rows: counts, seconds };
  } finally {
    await ownConnection?.end();
  }
}

async function ensureArchiveEngine(conn: mysql.Connection, log: (line: string) => void): Promise<void> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE = 'ARCHIVE'");
  if (rows.length > 0 && rows[0]!.SUPPORT !== 'NO') return;
  // CiviCRM's detailed logging uses ARCHIVE; Debian ships the plugin but does not load it.
  log('loading the ARCHIVE storage engine (INSTALL SONAME ha_archive)');
  await conn.query("INSTALL SONAME 'ha_archive'");
}

/** CiviCRM's log table shape (CRM/Logging/Schema.php): the table's columns without keys or
 * AUTO_INCREMENT, plus log_date, log_conn_id, log_user_id, log_action, ENGINE=ARCHIVE. */
export function logContactTableDdl(contactCreate: string): string {
  const columns = contactCreate
    .split('\n')
    .filter((line) => line.trimStart().startsWith('`'))
    .map((line) => line.replace(' AUTO_INCREMENT', '').replace(/,$/, ''));
  return (
    'CREATE TABLE `log_civicrm_contact` (\n' +
    [
      ...columns,
      '  `log_date` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP',
      '  `log_conn_id` varchar(17)',
      '  `log_user_id` int(11)',
      "  `log_action` enum('Initialization','Insert','Update','Delete')",
      '  `log_job_id` varchar(64)',
    ].join(',\n') +
    '\n) ENGINE=ARCHIVE DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=COMPRESSED'
  );
}

const STRIP_FUNCTION = `CREATE FUNCTION civicrm_strip_non_numeric(input VARCHAR(255))
      RETURNS VARCHAR(255)
      DETERMINISTIC
      NO SQL
    BEGIN
      DECLARE output   VARCHAR(255) DEFAULT '';
      DECLARE iterator INT          DEFAULT 1;
      WHILE iterator < (LENGTH(input) + 1) DO
        IF SUBSTRING(input, iterator, 1) IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9') THEN
          SET output = CONCAT(output, SUBSTRING(input, iterator, 1));
        END IF;
        SET iterator = iterator + 1;
      END WHILE;
      RETURN output;
    END`;

/** The civicrm_relationship -> civicrm_relationship_cache sync (CRM_Contact_BAO_RelationshipCache). */
function relationshipCacheSync(orientation: 'a_b' | 'b_a', where: string): string {
  const [near, far] = orientation === 'a_b' ? ['a', 'b'] : ['b', 'a'];
  return `INSERT INTO civicrm_relationship_cache (relationship_id, relationship_type_id, orientation, near_contact_id, near_relation, far_contact_id, far_relation, start_date, end_date, is_active, case_id)
SELECT rel.id AS relationship_id, rel.relationship_type_id AS relationship_type_id, "${orientation}" AS orientation, rel.contact_id_${near} AS near_contact_id, reltype.name_${near}_${far} AS near_relation, rel.contact_id_${far} AS far_contact_id, reltype.name_${far}_${near} AS far_relation, rel.start_date AS start_date, rel.end_date AS end_date, rel.is_active AS is_active, rel.case_id AS case_id
FROM civicrm_relationship rel
INNER JOIN civicrm_relationship_type reltype ON rel.relationship_type_id = reltype.id
WHERE (${where})
ON DUPLICATE KEY UPDATE relationship_type_id = rel.relationship_type_id, near_contact_id = rel.contact_id_${near}, near_relation = reltype.name_${near}_${far}, far_contact_id = rel.contact_id_${far}, far_relation = reltype.name_${far}_${near}, start_date = rel.start_date, end_date = rel.end_date, is_active = rel.is_active, case_id = rel.case_id`;
}

/** Triggers as Civi\Core\SqlTriggers writes them: one per table and event, no DEFINER given. */
function triggerStatements(): string[] {
  const relSync = (where: string) => `${relationshipCacheSync('a_b', where)};\n${relationshipCacheSync('b_a', where)};`;
  const typeWatch = '(OLD.name_a_b != NEW.name_a_b COLLATE utf8mb4_bin) OR (OLD.name_b_a != NEW.name_b_a COLLATE utf8mb4_bin)';
  return [
    'CREATE TRIGGER civicrm_phone_before_insert BEFORE INSERT ON civicrm_phone FOR EACH ROW BEGIN\nSET NEW.phone_numeric = civicrm_strip_non_numeric(NEW.phone);\nEND',
    'CREATE TRIGGER civicrm_phone_before_update BEFORE UPDATE ON civicrm_phone FOR EACH ROW BEGIN\nSET NEW.phone_numeric = civicrm_strip_non_numeric(NEW.phone);\nEND',
    `CREATE TRIGGER civicrm_relationship_after_insert AFTER INSERT ON civicrm_relationship FOR EACH ROW BEGIN\n${relSync('rel.id = NEW.id')}\nEND`,
    `CREATE TRIGGER civicrm_relationship_after_update AFTER UPDATE ON civicrm_relationship FOR EACH ROW BEGIN\n${relSync('rel.id = NEW.id')}\nEND`,
    `CREATE TRIGGER civicrm_relationship_type_after_update AFTER UPDATE ON civicrm_relationship_type FOR EACH ROW BEGIN\nIF (${typeWatch}) THEN\n${relSync('rel.relationship_type_id = NEW.id')}\nEND IF;\nEND`,
  ];
}

/** Multilingual sites read localised tables through views named {table}_{locale} (CRM_Core_I18n_Schema). */
function viewStatements(): string[] {
  return ['en_US', 'fr_FR'].flatMap((locale) => [
    `CREATE OR REPLACE SQL SECURITY INVOKER VIEW civicrm_group_${locale} AS SELECT id, name, title, description, source, saved_search_id, is_active, visibility, where_clause, select_tables, where_tables, group_type, cache_date, cache_fill_took, refresh_date, parents, children, is_hidden, is_reserved, created_id, modified_id, frontend_title, frontend_description FROM civicrm_group`,
    `CREATE OR REPLACE SQL SECURITY INVOKER VIEW civicrm_location_type_${locale} AS SELECT id, name, display_name, vcard_name, description, is_reserved, is_active, is_default FROM civicrm_location_type`,
  ]);
}

/** `FROM seq_1_to_N` with N >= 1. */
const seq = (n: number) => `seq_1_to_${Math.max(1, Math.round(n))}`;
const SEP = 'CHAR(1)'; // CiviCRM's value separator in "bookend" serialized columns

function dataStatements(c: Record<string, number>, withoutHugeRows: boolean): Array<[string, string]> {
  const C = c.civicrm_contact!;
  const contactOf = (expr: string) => `(1 + (${expr}) % ${C})`;
  const dateIn = (expr: string, from: string, days: number) => `(TIMESTAMP '${from}' + INTERVAL ((${expr}) % ${days * 86400}) SECOND)`;
  const groups = c.civicrm_group!;
  const tags = 30;
  const out: Array<[string, string]> = [];

  out.push(['lookup tables', `INSERT INTO civicrm_location_type (id, name, display_name, vcard_name, description, is_reserved, is_active, is_default) VALUES
    (1,'Home','Home','HOME','Place of residence',0,1,1),(2,'Work','Work','WORK','Work location',0,1,0),(3,'Main','Main',NULL,'Main office location',0,1,0),
    (4,'Other','Other',NULL,'Other location',0,1,0),(5,'Billing','Billing',NULL,'Billing Address location',1,1,0)`]);
  out.push(['financial types', `INSERT INTO civicrm_financial_type (id, name, label, description, is_deductible, is_reserved, is_active) VALUES
    (1,'Donation','Donation',NULL,1,0,1),(2,'Member Dues','Member Dues',NULL,1,0,1),(3,'Campaign Contribution','Campaign Contribution',NULL,0,0,1),(4,'Event Fee','Event Fee',NULL,0,0,1)`]);
  out.push(['relationship types', `INSERT INTO civicrm_relationship_type (id, name_a_b, label_a_b, name_b_a, label_b_a, description, contact_type_a, contact_type_b, is_reserved, is_active) VALUES
    (1,'Child of','Child of','Parent of','Parent of','Parent/child relationship.','Individual','Individual',0,1),
    (2,'Spouse of','Spouse of','Spouse of ','Spouse of','Spousal relationship.','Individual','Individual',0,1),
    (3,'Sibling of','Sibling of','Sibling of ','Sibling of','Sibling relationship.','Individual','Individual',0,1),
    (4,'Employee of','Employee of','Employer of','Employer of','Employment relationship.','Individual','Organization',1,1),
    (5,'Volunteer for','Volunteer for','Volunteer is','Volunteer is','Volunteer relationship.','Individual','Organization',0,1),
    (6,'Head of Household for','Head of Household for','Head of Household is','Head of Household is','Head of household.','Individual','Household',1,1),
    (7,'Household Member of','Household Member of','Household Member is','Household Member is','Household membership.','Individual','Household',1,1),
    (8,'Supervised by','Supervised by','Supervisor of','Supervisor of','Immediate workplace relationship.','Individual','Individual',0,1)`]);
  out.push(['tags', `INSERT INTO civicrm_tag (id, name, label, description, parent_id, is_selectable, is_reserved, is_tagset, used_for, created_id, color, created_date)
    SELECT seq, CONCAT('tag_', seq), CONCAT(${pick('seq', ['Major Donor', 'Volunteer', 'Company', 'Government Entity', 'Non-profit', 'Bénévole', 'Presse 📰', 'VIP ⭐'])}, ' ', seq),
      IF(seq % 3 = 0, 'Tag for segmenting contacts', NULL), NULL, 1, seq < 4, 0, 'civicrm_contact', 1, IF(seq % 4 = 0, '#ffcc00', NULL), TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq DAY
    FROM ${seq(tags)}`]);
  out.push(['civicrm_domain', `INSERT INTO civicrm_domain (id, name, description, version, contact_id, locales, locale_custom_strings) VALUES
    (1, 'Default Domain Name', 'Sample site for CiviBackup benchmarks', '6.17.2', 1, CONCAT('en_US', ${SEP}, 'fr_FR'), 'a:1:{s:5:"en_US";a:0:{}}')`]);
  out.push(['civicrm_setting', `INSERT INTO civicrm_setting (name, value, domain_id, contact_id, is_domain, component_id, created_date, created_id)
    SELECT CONCAT(${pick('seq', ['mailing_backend', 'contact_view_options', 'address_format', 'enable_components', 'lcMessages', 'dateformatDatetime', 'resCacheCode', 'installed', 'defaultCurrency', 'mailerBatchLimit'])}, IF(seq > 10, CONCAT('_', seq), '')),
      ${pick('seq', ['a:1:{s:15:"outBound_option";s:1:"3";}', `s:30:"${'\\x01'}1${'\\x01'}2${'\\x01'}3${'\\x01'}5${'\\x01'}6${'\\x01'}"`, 's:5:"en_US";', 'b:1;', 'i:0;', 's:19:"%B %E%f, %Y %l:%M %P";', 's:3:"USD";', 'a:3:{i:0;s:9:"CiviEvent";i:1;s:14:"CiviContribute";i:2;s:10:"CiviMember";}'])},
      1, IF(seq % 7 = 0, 1 + seq % ${C}, NULL), seq % 7 <> 0, NULL, TIMESTAMP '2019-05-01 00:00:00' + INTERVAL seq HOUR, 1
    FROM ${seq(150)}`]);

  out.push(['civicrm_contact', `INSERT INTO civicrm_contact (id, contact_type, external_identifier, display_name, organization_name, contact_sub_type, first_name, middle_name, last_name,
      do_not_email, do_not_phone, do_not_mail, do_not_sms, do_not_trade, is_opt_out, legal_identifier, sort_name, nick_name, legal_name, image_URL,
      preferred_communication_method, preferred_language, hash, api_key, source, prefix_id, suffix_id, formal_title, communication_style_id,
      email_greeting_id, email_greeting_custom, email_greeting_display, postal_greeting_id, postal_greeting_custom, postal_greeting_display,
      addressee_id, addressee_custom, addressee_display, job_title, gender_id, birth_date, is_deceased, deceased_date, household_name,
      primary_contact_id, sic_code, user_unique_id, employer_id, is_deleted, created_date, modified_date, preferred_mail_format)
    SELECT seq, s.ctype, IF(seq % 5 = 0, CONCAT('EXT-', seq), NULL),
      CASE s.ctype WHEN 'Individual' THEN CONCAT(s.fn, ' ', s.ln) WHEN 'Organization' THEN s.org ELSE CONCAT(s.ln, ' Family') END,
      IF(s.ctype = 'Organization', s.org, NULL), IF(seq % 17 = 0, CONCAT(${SEP}, 'Staff', ${SEP}), NULL),
      IF(s.ctype = 'Individual', s.fn, NULL), IF(s.ctype = 'Individual' AND seq % 4 = 0, ${pick('seq', ['A.', 'Marie', 'J.', 'Lou'])}, NULL), IF(s.ctype = 'Individual', s.ln, NULL),
      seq % 11 = 0, seq % 13 = 0, seq % 19 = 0, seq % 23 = 0, seq % 29 = 0, seq % 31 = 0, NULL,
      CASE s.ctype WHEN 'Individual' THEN CONCAT(s.ln, ', ', s.fn) WHEN 'Organization' THEN s.org ELSE CONCAT(s.ln, ' Family') END,
      IF(seq % 9 = 0, LEFT(s.fn, 3), NULL), NULL, IF(seq % 50 = 0, CONCAT('https://example.org/sites/default/files/civicrm/custom/photo_', seq, '.jpg'), NULL),
      IF(seq % 3 = 0, CONCAT(${SEP}, '1', ${SEP}, '2', ${SEP}), NULL), ${pick('seq', ['en_US', 'en_US', 'fr_FR', 'de_DE', 'es_ES'])}, MD5(CONCAT('hash', seq)),
      IF(seq % 1000 = 0, LEFT(SHA1(seq), 32), NULL), ${pick(mix('seq', 1), SOURCES)},
      IF(s.ctype = 'Individual', 1 + seq % 4, NULL), IF(seq % 40 = 0, 1 + seq % 7, NULL), NULL, 1,
      1, NULL, IF(s.ctype = 'Individual', CONCAT('Dear ', s.fn), CONCAT('Dear ', s.org)), 1, NULL, IF(s.ctype = 'Individual', CONCAT('Dear ', s.fn), NULL),
      1, NULL, IF(s.ctype = 'Individual', CONCAT(s.fn, ' ', s.ln), s.org), IF(s.ctype = 'Individual' AND seq % 3 = 0, ${pick('seq', ['Volunteer coordinator', 'Directrice générale', 'Geschäftsführer', 'Engineer', 'Teacher 🍎'])}, NULL),
      IF(s.ctype = 'Individual', 1 + seq % 3, NULL), IF(s.ctype = 'Individual', DATE '1935-01-01' + INTERVAL (${mix('seq', 2)} % 26000) DAY, NULL),
      seq % 97 = 0, IF(seq % 97 = 0, DATE '2015-01-01' + INTERVAL (seq % 3000) DAY, NULL), IF(s.ctype = 'Household', CONCAT(s.ln, ' Family'), NULL),
      NULL, IF(s.ctype = 'Organization', LPAD(seq % 10000, 4, '0'), NULL), IF(seq % 20 = 0, CONCAT('user-', seq), NULL),
      IF(s.ctype = 'Individual' AND seq % 6 = 0, 1 + 10 * ((seq * 7) % GREATEST(1, ${Math.floor(C / 10)})), NULL),
      seq % 200 = 0, ${dateIn(mix('seq', 3), '2012-01-01 00:00:00', 4000)}, ${dateIn(mix('seq', 4), '2023-01-01 00:00:00', 1000)}, 'Both'
    FROM (SELECT seq,
        IF(seq % 10 = 0, 'Organization', IF(seq % 20 = 7, 'Household', 'Individual')) AS ctype,
        ${pick(mix('seq', 5), FIRST_NAMES)} AS fn, ${pick(mix('seq', 6), LAST_NAMES)} AS ln,
        CONCAT(${pick(mix('seq', 7), ORG_WORDS)}, ' ', ${pick(mix('seq', 8), LAST_NAMES)}, ' ', seq) AS org
      FROM ${seq(C)}) s`]);

  out.push(['civicrm_email', `INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary, is_billing, on_hold, is_bulkmail, hold_date, reset_date, signature_text, signature_html)
    SELECT ${contactOf('seq - 1')}, IF(seq <= ${C}, 1, 2),
      CONCAT(${pick(mix('seq', 9), ASCII_FIRST)}, '.', seq, '@', ${pick('seq', DOMAINS)}), seq <= ${C}, seq % 50 = 0, IF(seq % 300 = 0, 1, 0), seq % 100 = 0,
      IF(seq % 300 = 0, TIMESTAMP '2024-02-01 10:00:00' + INTERVAL seq MINUTE, NULL), NULL,
      IF(seq % 40 = 0, CONCAT('— \\n', 'Kind regards / Cordialement\\n', seq), NULL), IF(seq % 40 = 0, CONCAT('<p>— <br/>Kind regards <b>', seq, '</b></p>'), NULL)
    FROM ${seq(c.civicrm_email!)}`]);
  out.push(['civicrm_phone', phoneInsert(c.civicrm_phone!, contactOf)]);

  out.push(['civicrm_address', `INSERT INTO civicrm_address (contact_id, location_type_id, is_primary, is_billing, street_address, street_number, street_number_suffix,
      street_name, street_type, street_unit, supplemental_address_1, supplemental_address_2, city, county_id, state_province_id, postal_code_suffix,
      postal_code, country_id, geo_code_1, geo_code_2, manual_geo_code, timezone, name, master_id)
    SELECT ${contactOf('seq - 1')}, 1, 1, seq % 20 = 0, CONCAT(s.num, IF(seq % 30 = 0, 'B', ''), ' ', s.street, ' ', s.stype), s.num, IF(seq % 30 = 0, 'B', NULL),
      s.street, s.stype, IF(seq % 8 = 0, CONCAT('Apt ', seq % 300), NULL), IF(seq % 12 = 0, CONCAT('c/o ', ${pick('seq', LAST_NAMES)}), NULL), NULL,
      ${pick(mix('seq', 10), CITIES)}, NULL, 1000 + seq % 60, NULL, LPAD(${mix('seq', 11)} % 100000, 5, '0'), ${pick('seq', ['1228', '1039', '1082', '1076', '1226', '1172'])},
      -60 + (${mix('seq', 12)} % 12000000) / 100000.0 + 0.000000123, -170 + (${mix('seq', 13)} % 34000000) / 100000.0, seq % 100 = 0,
      IF(seq % 15 = 0, 'UTC+1', NULL), IF(seq % 10 = 0, 'Head office', NULL), NULL
    FROM (SELECT seq, 1 + ${mix('seq', 14)} % 2500 AS num, ${pick(mix('seq', 15), STREETS)} AS street, ${pick('seq', STREET_TYPES)} AS stype FROM ${seq(c.civicrm_address!)}) s`]);

  out.push(['civicrm_contribution', `INSERT INTO civicrm_contribution (contact_id, financial_type_id, contribution_page_id, payment_instrument_id, receive_date, non_deductible_amount,
      total_amount, fee_amount, net_amount, trxn_id, invoice_id, invoice_number, currency, cancel_date, cancel_reason, receipt_date, thankyou_date, source,
      amount_level, contribution_recur_id, is_test, is_pay_later, contribution_status_id, address_id, check_number, campaign_id, creditnote_id, tax_amount,
      revenue_recognition_date, is_template, created_date, modified_date)
    SELECT ${contactOf(mix('seq', 16))}, 1 + seq % 4, IF(seq % 3 = 0, 1 + seq % 5, NULL), 1 + seq % 6, s.received, 0.00,
      s.amount, ROUND(s.amount * 0.029 + 0.30, 2), s.amount - ROUND(s.amount * 0.029 + 0.30, 2), IF(seq % 6 <> 4, CONCAT('ch_', LEFT(MD5(seq), 24)), NULL),
      MD5(CONCAT('inv', seq)), IF(seq % 10 = 0, CONCAT('INV_', seq), NULL), ${pick('seq', ['USD', 'USD', 'EUR', 'CAD', 'GBP'])},
      IF(seq % 101 = 0, s.received + INTERVAL 3 DAY, NULL), IF(seq % 101 = 0, 'Card declined — «insufficient funds»', NULL),
      IF(seq % 2 = 0, s.received + INTERVAL 1 HOUR, NULL), IF(seq % 3 = 0, s.received + INTERVAL 2 DAY, NULL),
      ${pick(mix('seq', 17), ['Online Contribution: Spring Appeal 🌸', 'Offline: cheque', 'Event fee: Gala dinner', 'Membership renewal', 'Don en ligne : Campagne d’hiver', 'Spende – Weihnachten'])},
      IF(seq % 7 = 0, CONCAT(${SEP}, ${pick('seq', ['Gold', 'Silver', 'Bronze', 'Supporter'])}, ' - 1', ${SEP}), NULL), NULL, seq % 500 = 0, seq % 30 = 0,
      IF(seq % 101 = 0, 3, IF(seq % 30 = 0, 2, 1)), NULL, IF(seq % 6 = 4, CONCAT('CHK', 100000 + seq % 900000), NULL), NULL, NULL, 0.00,
      IF(seq % 9 = 0, s.received, NULL), 0, s.received, s.received + INTERVAL (seq % 1000) MINUTE
    FROM (SELECT seq, ${dateIn(mix('seq', 18), '2014-01-01 00:00:00', 4300)} AS received,
        CAST((5 + ${mix('seq', 19)} % 50000 / 100) * IF(seq % 97 = 0, 100, 1) AS DECIMAL(20,2)) AS amount
      FROM ${seq(c.civicrm_contribution!)}) s`]);

  const A = c.civicrm_activity!;
  out.push(['civicrm_activity', `INSERT INTO civicrm_activity (id, source_record_id, activity_type_id, subject, activity_date_time, duration, location, phone_id, phone_number, details,
      status_id, priority_id, parent_id, is_test, medium_id, is_auto, relationship_id, is_current_revision, original_id, result, is_deleted, campaign_id,
      engagement_level, weight, is_star, created_date, modified_date)
    SELECT seq, IF(seq % 4 = 0, 1 + seq % ${c.civicrm_contribution!}, NULL), 1 + seq % 12, CONCAT(${pick(mix('seq', 20), SUBJECTS)}, IF(seq % 5 = 0, CONCAT(' #', seq), '')),
      ${dateIn(mix('seq', 21), '2015-01-01 00:00:00', 3900)}, IF(seq % 3 = 0, 15 + seq % 120, NULL), IF(seq % 10 = 0, ${pick('seq', ['Office', 'Zoom 🎥', 'Café Müller', 'Main hall'])}, NULL),
      NULL, IF(seq % 10 = 1, CONCAT('+1 555 01', LPAD(seq % 100, 2, '0')), NULL),
      IF(seq % 4 = 3, NULL, CONCAT('<p>', LEFT(REPEAT(${sqlString(PARAGRAPH)}, 4), 80 + ${mix('seq', 22)} % 900), ' Ref ', MD5(seq), SHA1(seq), '</p>')),
      1 + seq % 3, 2, NULL, 0, IF(seq % 5 = 0, 1 + seq % 5, NULL), 0, NULL, 1, NULL, NULL, seq % 150 = 0, NULL, NULL, NULL, seq % 80 = 0,
      ${dateIn(mix('seq', 23), '2015-01-01 00:00:00', 3900)}, ${dateIn(mix('seq', 24), '2023-01-01 00:00:00', 900)}
    FROM ${seq(A)}`]);
  out.push(['civicrm_activity_contact', `INSERT INTO civicrm_activity_contact (activity_id, contact_id, record_type_id)
    SELECT (seq + 1) DIV 2, ${contactOf(mix('seq', 25))}, 2 + seq % 2 FROM ${seq(A * 2)}`]);

  out.push(['civicrm_group', `INSERT INTO civicrm_group (id, name, title, description, source, saved_search_id, is_active, visibility, where_clause, select_tables, where_tables, group_type,
      cache_date, cache_fill_took, refresh_date, parents, children, is_hidden, is_reserved, created_id, modified_id, frontend_title, frontend_description)
    SELECT seq, CONCAT('Group_', seq), CONCAT(${pick('seq', ['Newsletter subscribers', 'Volunteers', 'Board', 'Donors 2024', 'Bénévoles', 'Mitglieder', 'Press 📰', 'Major donors'])}, ' ', seq),
      IF(seq % 2 = 0, 'Contacts who signed up through the website.', NULL), NULL, NULL, 1, IF(seq % 3 = 0, 'Public Pages', 'User and User Admin Only'),
      IF(seq % 10 = 0, ' ( contact_a.contact_type = "Individual" ) ', NULL), IF(seq % 10 = 0, 'a:1:{s:15:"civicrm_contact";i:1;}', NULL), IF(seq % 10 = 0, 'a:0:{}', NULL),
      CONCAT(${SEP}, IF(seq % 4 = 0, '2', '1'), ${SEP}), IF(seq % 10 = 0, TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq MINUTE, NULL), IF(seq % 10 = 0, seq / 7, NULL), NULL,
      NULL, NULL, 0, seq = 1, 1, 1, CONCAT('Group ', seq, ' — public title'), NULL
    FROM ${seq(groups)}`]);
  out.push(['civicrm_group_contact', `INSERT INTO civicrm_group_contact (group_id, contact_id, status, location_id, email_id)
    SELECT 1 + ((seq - 1) % ${C} + ((seq - 1) DIV ${C}) * ${Math.floor(groups / 2)}) % ${groups}, 1 + (seq - 1) % ${C}, ${pick('seq', ['Added', 'Added', 'Added', 'Removed', 'Pending'])}, NULL, NULL
    FROM ${seq(c.civicrm_group_contact!)}`]);
  out.push(['civicrm_group_contact_cache', `INSERT INTO civicrm_group_contact_cache (group_id, contact_id)
    SELECT 1 + ((seq - 1) % ${C} * 3 + ((seq - 1) DIV ${C}) * ${Math.floor(groups / 2)}) % ${groups}, 1 + (seq - 1) % ${C} FROM ${seq(c.civicrm_group_contact_cache!)}`]);
  out.push(['civicrm_entity_tag', `INSERT INTO civicrm_entity_tag (entity_table, entity_id, tag_id)
    SELECT 'civicrm_contact', seq, 1 + ${mix('seq', 26)} % ${tags} FROM ${seq(c.civicrm_entity_tag!)}`]);
  out.push(['civicrm_note', `INSERT INTO civicrm_note (entity_table, entity_id, note, contact_id, note_date, created_date, modified_date, subject, privacy)
    SELECT 'civicrm_contact', ${contactOf(mix('seq', 27))}, CONCAT(LEFT(${sqlString(PARAGRAPH + PARAGRAPH)}, 40 + ${mix('seq', 28)} % 700), '\\n— ', seq),
      1 + seq % 50, ${dateIn(mix('seq', 29), '2016-01-01 00:00:00', 3000)}, ${dateIn(mix('seq', 29), '2016-01-01 00:00:00', 3000)}, ${dateIn(mix('seq', 30), '2024-01-01 00:00:00', 300)},
      ${pick('seq', ['Call notes', 'Préférences', 'Allergies: none', 'Do not call after 8pm ☎️', ''])}, IF(seq % 20 = 0, '1', '0')
    FROM ${seq(c.civicrm_note!)}`]);
  out.push(['civicrm_log', `INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date)
    SELECT 'civicrm_contact', ${contactOf(mix('seq', 31))}, CONCAT('civicrm_contact,', ${contactOf(mix('seq', 31))}), 1 + seq % 50, ${dateIn(mix('seq', 32), '2014-01-01 00:00:00', 4300)}
    FROM ${seq(c.civicrm_log!)}`]);

  // Serialized PHP as CRM_Utils_Cache_SqlGroup stores it: protected properties carry NUL bytes.
  out.push(['civicrm_cache', `INSERT INTO civicrm_cache (group_name, path, data, component_id, created_date, expired_date)
    SELECT ${pick('seq', ['contact fields', 'navigation', 'metadata_5_81', 'js_strings', 'long', 'session'])}, CONCAT('k_', MD5(seq)),
      CONCAT('O:20:"CRM_Core_Cache_Entry":2:{s:7:"', CHAR(0), '*', CHAR(0), 'data";s:', 2 * (500 + seq % 4000), ':"', REPEAT(LEFT(SHA2(seq, 512), 50), 20 + seq % 160), '";s:6:"', CHAR(0), '*', CHAR(0), 'ttl";i:', seq % 86400, ';}'),
      NULL, ${dateIn(mix('seq', 33), '2025-01-01 00:00:00', 300)}, IF(seq % 3 = 0, NULL, ${dateIn(mix('seq', 34), '2026-01-01 00:00:00', 300)})
    FROM ${seq(c.civicrm_cache!)}`]);
  out.push(['civicrm_acl_cache', `INSERT INTO civicrm_acl_cache (contact_id, acl_id, modified_date)
    SELECT ${contactOf('seq')}, 1 + seq % 7, ${dateIn(mix('seq', 35), '2025-06-01 00:00:00', 100)} FROM ${seq(c.civicrm_acl_cache!)}`]);
  out.push(['civicrm_prevnext_cache', `INSERT INTO civicrm_prevnext_cache (entity_table, entity_id1, entity_id2, cachekey, data, is_selected)
    SELECT 'civicrm_contact', ${contactOf('seq')}, NULL, CONCAT('civicrm search CRM_Contact_Controller_Search_', MD5(seq DIV 500)), CONCAT(${pick(mix('seq', 36), LAST_NAMES)}, ', ', ${pick(mix('seq', 37), FIRST_NAMES)}), seq % 9 = 0
    FROM ${seq(c.civicrm_prevnext_cache!)}`]);

  out.push(['civicrm_relationship', `INSERT INTO civicrm_relationship (contact_id_a, contact_id_b, relationship_type_id, start_date, end_date, is_active, description, is_permission_a_b, is_permission_b_a, case_id, created_date, modified_date)
    SELECT ${contactOf(mix('seq', 38))}, ${contactOf(mix('seq', 39))}, 1 + seq % 8, IF(seq % 2 = 0, DATE '2010-01-01' + INTERVAL seq % 5000 DAY, NULL),
      IF(seq % 9 = 0, DATE '2024-01-01' + INTERVAL seq % 600 DAY, NULL), seq % 9 <> 0, IF(seq % 5 = 0, 'Met at the 2019 gala — «old friends»', NULL), seq % 3 = 0, 0, NULL,
      ${dateIn(mix('seq', 40), '2015-01-01 00:00:00', 3000)}, ${dateIn(mix('seq', 41), '2023-01-01 00:00:00', 900)}
    FROM ${seq(c.civicrm_relationship!)}`]);
  out.push(['civicrm_relationship_cache (a_b)', relationshipCacheSync('a_b', '1')]);
  out.push(['civicrm_relationship_cache (b_a)', relationshipCacheSync('b_a', '1')]);

  // Attachments stored in the database: part random (incompressible, like PDFs and JPEGs), part repetitive.
  out.push(['civicrm_file', `INSERT INTO civicrm_file (id, file_type_id, mime_type, uri, document, description, is_public, upload_date, created_id)
    SELECT seq, NULL, ${pick('seq', ['application/pdf', 'image/jpeg', 'image/png', 'text/plain'])}, CONCAT(${pick('seq', ['Rapport_annuel', 'receipt', 'photo', 'Zeugnis'])}, '_', LEFT(MD5(seq), 12), '.pdf'),
      CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1 + seq % 1024), REPEAT(UNHEX(SHA2(seq, 256)), 16 + seq % 96)), IF(seq % 4 = 0, 'Scanned letter — «signed»', NULL), seq % 10 = 0,
      ${dateIn(mix('seq', 42), '2016-01-01 00:00:00', 3000)}, 1 + seq % 50
    FROM ${seq(c.civicrm_file!)}`]);
  out.push(['civicrm_entity_file', `INSERT INTO civicrm_entity_file (entity_table, entity_id, file_id)
    SELECT IF(seq % 3 = 0, 'civicrm_note', 'civicrm_activity'), 1 + seq % ${A}, seq FROM ${seq(c.civicrm_entity_file!)}`]);

  const queue = c.civicrm_mailing_event_queue!;
  out.push(['civicrm_mailing_event_queue', `INSERT INTO civicrm_mailing_event_queue (id, job_id, mailing_id, is_test, email_id, contact_id, hash, phone_id)
    SELECT seq, 1 + seq DIV 5000, 1 + seq DIV 10000, 0, ${contactOf('seq - 1')}, ${contactOf('seq - 1')}, LEFT(SHA1(CONCAT('q', seq)), 16), NULL FROM ${seq(queue)}`]);
  out.push(['civicrm_mailing_event_delivered', `INSERT INTO civicrm_mailing_event_delivered (event_queue_id, time_stamp)
    SELECT 1 + (seq - 1) % ${queue}, ${dateIn(mix('seq', 43), '2020-01-01 00:00:00', 2000)} FROM ${seq(c.civicrm_mailing_event_delivered!)}`]);

  out.push(['log_civicrm_contact (ARCHIVE)', `INSERT INTO log_civicrm_contact
    SELECT c.*, c.modified_date + INTERVAL (seq.seq % 3) SECOND, LEFT(MD5(c.id), 13), 1 + c.id % 50, IF(seq.seq = 1, 'Initialization', 'Update'), NULL
    FROM civicrm_contact c JOIN ${seq(2)} seq WHERE c.id <= ${Math.max(1, Math.ceil(c.log_civicrm_contact! / 2))}`]);

  if (!withoutHugeRows) {
    // A few multi-megabyte rows (scanned documents, imported e-mail bodies): the dump must
    // stream them within max_allowed_packet (16 MiB; hex doubles binary) and flat memory.
    out.push(['huge civicrm_file documents', `INSERT INTO civicrm_file (id, mime_type, uri, document, description, is_public, upload_date, created_id)
      SELECT ${c.civicrm_file! + 1} + seq - 1, 'application/pdf', CONCAT('scan_', seq, '.pdf'), REPEAT(CONCAT(RANDOM_BYTES(1024), REPEAT(UNHEX(SHA2(seq, 256)), 32)), ${Math.floor(HUGE_DOCUMENT_BYTES / 2048)}),
        'Large scanned document', 0, TIMESTAMP '2024-05-01 12:00:00', 1
      FROM ${seq(c.hugeDocuments!)}`]);
    out.push(['huge civicrm_activity details', `INSERT INTO civicrm_activity (id, activity_type_id, subject, activity_date_time, details, status_id, priority_id)
      SELECT ${A + 1} + seq - 1, 3, 'Imported e-mail thread (very long) 📧', TIMESTAMP '2024-05-01 12:00:00',
        REPEAT(CONCAT(${sqlString(PARAGRAPH)}, SHA1(seq), '\\n'), ${Math.floor(HUGE_DETAILS_BYTES / (Buffer.byteLength(PARAGRAPH) + 41))}), 2, 2
      FROM ${seq(c.hugeActivities!)}`]);
  }
  return out;
}

function phoneInsert(count: number, contactOf: (expr: string) => string): string {
  const area = `(200 + seq % 800)`;
  const local = `LPAD(${mix('seq', 44)} % 10000, 4, '0')`;
  const phone = `CASE seq % 5
      WHEN 0 THEN CONCAT('+1 (', ${area}, ') 555-', ${local})
      WHEN 1 THEN CONCAT('+44 20 7946 ', ${local})
      WHEN 2 THEN CONCAT('(0', ${area}, ') ', LEFT(${local}, 2), '-', RIGHT(${local}, 2))
      WHEN 3 THEN CONCAT('+33 1 ', LEFT(${local}, 2), ' ', RIGHT(${local}, 2), ' ', seq % 90 + 10)
      ELSE CONCAT(${area}, '.555.', ${local}) END`;
  return `INSERT INTO civicrm_phone (contact_id, location_type_id, is_primary, is_billing, mobile_provider_id, phone, phone_ext, phone_numeric, phone_type_id)
    SELECT ${contactOf('seq - 1')}, 1 + seq % 2, 1, 0, NULL, s.phone, IF(seq % 25 = 0, CONCAT('x', seq % 1000), NULL), REGEXP_REPLACE(s.phone, '[^0-9]', ''), 1 + seq % 2
    FROM (SELECT seq, ${phone} AS phone FROM ${seq(count)}) s`;
}

function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\n/g, '\\n').replace(/\t/g, '\\t')}'`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      database: { type: 'string' },
      scale: { type: 'string', default: '1' },
      dsn: { type: 'string', default: process.env.CIVIBACKUP_BENCH_DSN ?? DEFAULT_DSN },
      force: { type: 'boolean', default: false },
      'without-huge-rows': { type: 'boolean', default: false },
    },
  });
  if (!values.database) {
    process.stderr.write('usage: npx tsx bench/civicrm-sample.ts --database NAME [--scale 1] [--dsn mysql://root@127.0.0.1:3306] [--force] [--without-huge-rows]\n');
    process.exit(2);
  }
  const result = await createSampleDatabase({
    dsn: values.dsn,
    database: values.database,
    scale: Number(values.scale),
    force: values.force,
    withoutHugeRows: values['without-huge-rows'],
    log: (line) => process.stderr.write(line + '\n'),
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`civicrm-sample: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
