<?php
declare(strict_types = 1);

/**
 * What this site's settings say about its backups: the civibackup_* settings, the
 * destination directory, whether the logging database is a separate one, and the
 * Directories paths a set's directories restore into.
 */
final class CRM_Civibackup_Site {

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  public function __construct(CRM_Civibackup_Civi $civi) {
    $this->civi = $civi;
  }

  /**
   * Every civibackup_* setting, by name.
   */
  public function settings(): array {
    $values = [];
    foreach (CRM_Civibackup_Config::settingNames() as $name) {
      $values[$name] = $this->civi->getSetting($name);
    }
    return $values;
  }

  public function destination(): string {
    $setting = trim((string) $this->civi->getSetting('civibackup_destination'));
    if ($setting === '') {
      $setting = CRM_Civibackup_Config::DEFAULT_DESTINATION;
    }
    return rtrim($this->civi->resolvePath($setting), '/');
  }

  public function loggingSeparate(): bool {
    $logging = $this->civi->loggingDsn();
    if ($logging === NULL || $logging === '') {
      return FALSE;
    }
    return !CRM_Civibackup_Dsn::parse($logging)->sameDatabaseAs(CRM_Civibackup_Dsn::parse($this->civi->dsn()));
  }

  /**
   * The staging database a restore over the live site loads into (`--staging-db`), from
   * the setting civibackup_staging_database; NULL when not set (the helper derives one).
   */
  public function stagingDatabase(): ?string {
    $name = trim((string) $this->civi->getSetting('civibackup_staging_database'));
    if ($name === '') {
      return NULL;
    }
    if (!CRM_Civibackup_Dsn::isDatabaseName($name) || $name === CRM_Civibackup_Dsn::parse($this->civi->dsn())->database()) {
      throw new CRM_Civibackup_Error('CONFIG', "\"$name\" cannot be the staging database.", 'Set civibackup_staging_database to a database name (letters, digits, _) other than CiviCRM\'s own, or leave it empty.');
    }
    return $name;
  }

  /**
   * Where a set's directory with this label restores to: the Directories setting it was
   * backed up from (JobBuilder::DIRECTORIES), without the trailing slash.
   */
  public function directoryPath(string $label): string {
    $paths = $this->civi->directories();
    foreach (CRM_Civibackup_JobBuilder::DIRECTORIES as $key => $spec) {
      if ($spec['label'] === $label && !empty($paths[$key])) {
        return rtrim($paths[$key], '/');
      }
    }
    throw new CRM_Civibackup_Error('USAGE', "\"$label\" is not a directory this site can restore into.", 'Check Administer » System Settings » Directories.');
  }

}
