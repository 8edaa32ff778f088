<?php
declare(strict_types = 1);

/**
 * The secrets a helper step gets in its environment, rebuilt each time a step starts (they
 * are never written to disk): the DSNs of the site's databases, the scratch database's DSN,
 * offsite credentials, and an age identity typed in on the page for one call only.
 */
final class CRM_Civibackup_Secrets {

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var CRM_Civibackup_Site
   */
  private $site;

  /**
   * @var CRM_Civibackup_Jobs
   */
  private $jobs;

  /**
   * Secrets given for one call only (an identity typed in on the page); never stored.
   *
   * @var array
   */
  private $transient = [];

  public function __construct(CRM_Civibackup_Civi $civi, CRM_Civibackup_Site $site, CRM_Civibackup_Jobs $jobs) {
    $this->civi = $civi;
    $this->site = $site;
    $this->jobs = $jobs;
  }

  /**
   * Secrets a step needs, by the step's `secrets` kind: backup, restore, scratch or none.
   */
  public function forStep(string $kind): array {
    switch ($kind) {
      case 'backup':
        return $this->jobs->backup('backup')[1];

      case 'restore':
        $secrets = [CRM_Civibackup_JobBuilder::ENV_DSN => $this->civi->dsn()];
        if ($this->site->loggingSeparate()) {
          $secrets[CRM_Civibackup_JobBuilder::ENV_LOGGING_DSN] = (string) $this->civi->loggingDsn();
        }
        return $secrets + $this->transient;

      case 'scratch':
        return [CRM_Civibackup_JobBuilder::ENV_SCRATCH_DSN => $this->scratchDsn()];

      default:
        return $this->transient;
    }
  }

  /**
   * Runs $fn with $secrets added to the steps it starts (restore and none kinds), and
   * forgets them afterwards, whatever happens.
   *
   * @return mixed
   */
  public function withTransient(array $secrets, callable $fn) {
    $this->transient = $secrets;
    try {
      return $fn();
    }
    finally {
      $this->transient = [];
    }
  }

  /**
   * An age identity (AGE-SECRET-KEY-1...) typed in for one call: environment only.
   */
  public static function identity(string $identity): array {
    $identity = trim($identity);
    return $identity === '' ? [] : [CRM_Civibackup_JobBuilder::ENV_IDENTITY => $identity];
  }

  /**
   * The deep-verify scratch database: civibackup_scratch_database, or the site's database
   * name + "_cbscratch"; same server and credentials (the user needs CREATE and DROP on it).
   */
  public function scratchDsn(): string {
    $dsn = CRM_Civibackup_Dsn::parse($this->civi->dsn());
    $name = trim((string) $this->civi->getSetting('civibackup_scratch_database'));
    if ($name === '') {
      $name = substr((string) $dsn->database(), 0, 54) . '_cbscratch';
    }
    if (!CRM_Civibackup_Dsn::isDatabaseName($name) || $name === $dsn->database()) {
      throw new CRM_Civibackup_Error('CONFIG', "\"$name\" cannot be the scratch database.", 'Set civibackup_scratch_database to a database name (letters, digits, _) other than CiviCRM\'s own.');
    }
    return $dsn->withDatabase($name)->toString();
  }

  /**
   * The DSN of a new database a set is restored into for inspection: same server and
   * credentials as CiviCRM's database. Never a database CiviBackup or CiviCRM already uses:
   * CiviCRM's own, its logging database, the scratch database (a deep verify drops it) or
   * the configured staging and old databases (a restore over the live site empties them).
   */
  public function newDatabaseDsn(string $name): string {
    $dsn = CRM_Civibackup_Dsn::parse($this->civi->dsn());
    $taken = array_merge([$dsn->database(), CRM_Civibackup_Dsn::parse($this->scratchDsn())->database()], array_values($this->site->restoreWorkDatabases()));
    if ($this->site->loggingSeparate()) {
      $taken[] = CRM_Civibackup_Dsn::parse((string) $this->civi->loggingDsn())->database();
    }
    if (!CRM_Civibackup_Dsn::isDatabaseName($name) || in_array($name, $taken, TRUE)) {
      throw new CRM_Civibackup_Error('USAGE', "\"$name\" cannot be the new database.", 'Name a new database (letters, digits, _) other than CiviCRM\'s own, its logging database and the scratch and staging databases CiviBackup uses.');
    }
    return $dsn->withDatabase($name)->toString();
  }

}
