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

  /**
   * Where a new install keeps its sets: [civicrm.private]/civibackup/sets when
   * [civicrm.private] is outside the web root; else a folder beside the web root
   * (besideWebRoot) when the site can create it; else [civicrm.private] inside the web root,
   * where the download probe decides whether it may be used.
   */
  public function defaultDestination(): string {
    $webRoot = $this->civi->webRoot();
    if ($webRoot === NULL) {
      return CRM_Civibackup_Config::DEFAULT_DESTINATION;
    }
    $realRoot = realpath($webRoot) ?: rtrim($webRoot, '/');
    // Civi::paths() resolves '[var]/rest' only, so ask for '[civicrm.private]/.'.
    $private = rtrim((string) preg_replace('#/\.$#', '', $this->civi->resolvePath('[civicrm.private]/.')), '/');
    if (!CRM_Civibackup_JobBuilder::isInside(realpath($private) ?: $private, $realRoot)) {
      return CRM_Civibackup_Config::DEFAULT_DESTINATION;
    }
    $beside = self::besideWebRoot($realRoot);
    if ($realRoot !== '' && $realRoot !== '/' && self::canCreate($beside)) {
      return $beside;
    }
    return CRM_Civibackup_Config::DEFAULT_DESTINATION;
  }

  /**
   * A folder beside the web root, named after it so several sites under one parent (or two
   * CiviCRMs on one machine) keep their sets apart: /var/www/html =>
   * /var/www/civibackup-backups/html.
   */
  public static function besideWebRoot(string $webRoot): string {
    $webRoot = rtrim($webRoot, '/');
    return dirname($webRoot) . '/civibackup-backups/' . basename($webRoot);
  }

  /**
   * On install: a destination of its own for a site that has none saved. A site that kept
   * the old default ([civicrm.private]/civibackup/sets, where its existing sets are) or saved
   * its own keeps it.
   */
  public function rememberDefaultDestination(): void {
    $current = trim((string) $this->civi->getSetting('civibackup_destination'));
    if ($current !== '' && $current !== CRM_Civibackup_Config::DEFAULT_DESTINATION) {
      return;
    }
    if (is_dir($this->civi->resolvePath(CRM_Civibackup_Config::DEFAULT_DESTINATION))) {
      return;
    }
    $chosen = $this->defaultDestination();
    if ($chosen !== CRM_Civibackup_Config::DEFAULT_DESTINATION) {
      $this->civi->setSetting('civibackup_destination', $chosen);
    }
  }

  /**
   * The nearest existing ancestor of $path is a directory this process can write.
   */
  private static function canCreate(string $path): bool {
    while (!file_exists($path)) {
      $parent = dirname($path);
      if ($parent === $path) {
        return FALSE;
      }
      $path = $parent;
    }
    return is_dir($path) && is_writable($path);
  }

  public function loggingSeparate(): bool {
    $logging = $this->civi->loggingDsn();
    if ($logging === NULL || $logging === '') {
      return FALSE;
    }
    return !CRM_Civibackup_Dsn::parse($logging)->sameDatabaseAs(CRM_Civibackup_Dsn::parse($this->civi->dsn()));
  }

  /**
   * The work databases of a restore over the live site, from the settings: `staging` (the
   * set is loaded and checked there, `--staging-db`, civibackup_staging_database) and `old`
   * (the replaced live tables move there until the restore has succeeded, `--old-db`,
   * civibackup_old_database). A name left empty is NULL: the helper derives it.
   *
   * @return array
   *   ['staging' => ?string, 'old' => ?string]
   */
  public function restoreWorkDatabases(): array {
    $names = [];
    foreach (['staging' => 'civibackup_staging_database', 'old' => 'civibackup_old_database'] as $role => $setting) {
      $name = trim((string) $this->civi->getSetting($setting));
      if ($name !== '' && (!CRM_Civibackup_Dsn::isDatabaseName($name) || $name === CRM_Civibackup_Dsn::parse($this->civi->dsn())->database())) {
        throw new CRM_Civibackup_Error('CONFIG', "\"$name\" cannot be the $role database of a restore.", "Set $setting to a database name (letters, digits, _) other than CiviCRM's own, or leave it empty.");
      }
      $names[$role] = $name === '' ? NULL : $name;
    }
    if ($names['staging'] !== NULL && $names['staging'] === $names['old']) {
      throw new CRM_Civibackup_Error('CONFIG', "\"{$names['staging']}\" cannot be both the staging and the old database of a restore.", 'Give civibackup_staging_database and civibackup_old_database different names, or leave them empty.');
    }
    return $names;
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
