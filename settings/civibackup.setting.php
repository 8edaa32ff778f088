<?php
declare(strict_types = 1);

/**
 * CiviBackup settings. All live in group 'civibackup' and are edited on the Backups page
 * (Administer » System Settings » Backups) through Backup.getConfig / Backup.saveConfig.
 * Uninstall reverts every key in this file (CRM_Civibackup_Hooks::uninstall).
 */

use CRM_Civibackup_ExtensionUtil as E;

// Wrapped in a closure: core includes this file inside its own function, so local helper
// variables must not leak into (and overwrite) the including scope.
return (function (): array {

$boolean = function (string $name, bool $default, string $title, string $description): array {
  return [
    'name' => $name,
    'type' => 'Boolean',
    'html_type' => 'toggle',
    'default' => $default,
    'title' => $title,
    'description' => $description,
    'group' => 'civibackup',
    'group_name' => 'CiviBackup Settings',
    'is_domain' => 1,
    'is_contact' => 0,
  ];
};

$integer = function (string $name, int $default, string $title, string $description): array {
  return [
    'name' => $name,
    'type' => 'Integer',
    'html_type' => 'number',
    'default' => $default,
    'title' => $title,
    'description' => $description,
    'group' => 'civibackup',
    'group_name' => 'CiviBackup Settings',
    'is_domain' => 1,
    'is_contact' => 0,
    'html_attributes' => ['min' => 0],
  ];
};

$string = function (string $name, string $default, string $title, string $description, string $htmlType = 'text'): array {
  return [
    'name' => $name,
    'type' => 'String',
    'html_type' => $htmlType,
    'default' => $default,
    'title' => $title,
    'description' => $description,
    'group' => 'civibackup',
    'group_name' => 'CiviBackup Settings',
    'is_domain' => 1,
    'is_contact' => 0,
  ];
};

$list = function (string $name, string $title, string $description): array {
  return [
    'name' => $name,
    'type' => 'Array',
    'html_type' => 'textarea',
    'default' => [],
    'title' => $title,
    'description' => $description,
    'group' => 'civibackup',
    'group_name' => 'CiviBackup Settings',
    'is_domain' => 1,
    'is_contact' => 0,
  ];
};

return [
  // What to include.
  'civibackup_include_database' => $boolean('civibackup_include_database', TRUE,
    E::ts('Back up the CiviCRM database'),
    E::ts('Dump the CiviCRM database (CIVICRM_DSN) in one consistent snapshot.')),
  'civibackup_include_logging_database' => $boolean('civibackup_include_logging_database', TRUE,
    E::ts('Back up the logging database'),
    E::ts('When detailed logging writes to a separate database (CIVICRM_LOGGING_DSN), dump it too.')),
  'civibackup_include_custom' => $boolean('civibackup_include_custom', TRUE,
    E::ts('Include Custom Files'),
    E::ts('The Custom Files directory (Administer » System Settings » Directories): uploaded attachments.')),
  'civibackup_include_images' => $boolean('civibackup_include_images', TRUE,
    E::ts('Include Images'),
    E::ts('The Images directory (Directories settings), without the generated asset cache.')),
  'civibackup_include_templates' => $boolean('civibackup_include_templates', TRUE,
    E::ts('Include Custom Templates'),
    E::ts('The Custom Templates directory, when one is configured.')),
  'civibackup_include_php' => $boolean('civibackup_include_php', TRUE,
    E::ts('Include Custom PHP'),
    E::ts('The Custom PHP directory, when one is configured.')),
  'civibackup_include_extensions' => $boolean('civibackup_include_extensions', TRUE,
    E::ts('Include Extensions'),
    E::ts('The Extensions directory, so a restored site has the same extension code.')),
  'civibackup_include_code' => $boolean('civibackup_include_code', TRUE,
    E::ts('Include CiviCRM code'),
    E::ts("CiviCRM's own code (on WordPress the plugin folder), without settings files and caches: worth having when core files were modified. Deduplicated sets store it once, so later backups add only what changed.")),
  'civibackup_skip_cache_data' => $boolean('civibackup_skip_cache_data', TRUE,
    E::ts('Skip cache table data'),
    E::ts('Keep the structure but not the rows of civicrm_cache, civicrm_acl_cache, civicrm_acl_contact_cache, civicrm_group_contact_cache and civicrm_prevnext_cache; CiviCRM rebuilds them.')),

  // Where to.
  'civibackup_destination' => $string('civibackup_destination', '[civicrm.private]/civibackup/sets',
    E::ts('Destination directory'),
    E::ts('Where backup sets are written, on this server. Path expressions such as [civicrm.private] are allowed. It must not be inside the web root: a status check warns when it is.')),
  'civibackup_offsite' => $string('civibackup_offsite', '[]',
    E::ts('Offsite destinations'),
    E::ts('JSON list of offsite copies (S3 or SFTP) without their secrets; secrets are stored separately and never shown again.'),
    'textarea'),
  'civibackup_offsite_secrets' => $string('civibackup_offsite_secrets', '',
    E::ts('Offsite secrets (write-only)'),
    E::ts('Secret keys of the offsite destinations, encrypted with CiviCRM\'s credential key when one is configured. Never returned to the browser.')),

  // Retention: which sets prune keeps (a set kept by any rule stays).
  'civibackup_keep_last' => $integer('civibackup_keep_last', 3,
    E::ts('Keep the last N sets'), E::ts('The newest N complete sets are always kept.')),
  'civibackup_keep_daily' => $integer('civibackup_keep_daily', 7,
    E::ts('Keep daily sets'), E::ts('Keep the newest set of each of the last N days.')),
  'civibackup_keep_weekly' => $integer('civibackup_keep_weekly', 4,
    E::ts('Keep weekly sets'), E::ts('Keep the newest set of each of the last N weeks.')),
  'civibackup_keep_monthly' => $integer('civibackup_keep_monthly', 6,
    E::ts('Keep monthly sets'), E::ts('Keep the newest set of each of the last N months.')),
  'civibackup_keep_yearly' => $integer('civibackup_keep_yearly', 0,
    E::ts('Keep yearly sets'), E::ts('Keep the newest set of each of the last N years.')),
  'civibackup_source_id' => $string('civibackup_source_id', '',
    E::ts('Source name'),
    E::ts('Optional. A name for this site\'s backup sets (letters, digits, . _ -; at most 64; no spaces). Retention only counts and removes the sets of its own source; without a name the source is this server\'s host name and the CiviCRM database. Set a different name on each site when several sites, or copies of one (a cloned server or container with the same host name and database name), write to the same destination directory or offsite prefix.')),

  // Encryption and alerts.
  'civibackup_recipients' => $list('civibackup_recipients',
    E::ts('Encryption recipients'),
    E::ts('age public keys (age1...). Sets are encrypted to every recipient; the server holds no secret key, so a stolen server cannot read its backups.')),
  'civibackup_alert_emails' => $list('civibackup_alert_emails',
    E::ts('Alert e-mail addresses'),
    E::ts('Who receives an e-mail when a backup fails.')),

  // Running.
  'civibackup_node_path' => $string('civibackup_node_path', '',
    E::ts('Path of the node binary'),
    E::ts('Leave empty to find node on the PATH. CiviBackup needs Node.js 20 or newer.')),
  'civibackup_scratch_database' => $string('civibackup_scratch_database', '',
    E::ts('Scratch database for test restores'),
    E::ts('Name of the database a deep verify restores into and drops again, on the same server and with the same credentials as CiviCRM\'s database. Empty: the CiviCRM database name followed by _cbscratch. The database user needs CREATE and DROP on it.')),
  'civibackup_staging_database' => $string('civibackup_staging_database', '',
    E::ts('Staging database for restores'),
    E::ts('Name of the database a restore over the live site loads the set into, checks, and then swaps in with one RENAME TABLE, on the same server and with the same credentials as CiviCRM\'s database. Empty: a name the helper derives from CiviCRM\'s database name. The database user needs CREATE and DROP on it.')),
  'civibackup_old_database' => $string('civibackup_old_database', '',
    E::ts('Old database for restores'),
    E::ts('Name of the database the replaced live tables move to while a restore over the live site swaps the set in; it is emptied when the restore has succeeded. Same server and credentials as CiviCRM\'s database. Empty: a name the helper derives from CiviCRM\'s database name. The database user needs CREATE and DROP on it.')),
  'civibackup_max_age_hours' => $integer('civibackup_max_age_hours', 26,
    E::ts('Maximum backup age (hours)'),
    E::ts('System Status warns when the newest complete backup is older than this.')),
  'civibackup_last_run' => $list('civibackup_last_run',
    E::ts('Last run'),
    E::ts('Outcome of the most recent backup run (written by CiviBackup; not edited by hand).')),
];

})();
