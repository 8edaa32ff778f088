<?php
declare(strict_types = 1);

/**
 * What the API actions, the scheduled job and the status checks call: the parts of
 * CiviBackup's PHP side wired together for one site, each a class of its own concern:
 *
 * - CRM_Civibackup_RunEngine: runs of one or more helper steps (start, advance, status,
 *   cancel, record, reconcile);
 * - CRM_Civibackup_BackupTask, VerifyTask, RestoreTask, TestDestinationTask and Sets: the
 *   steps and jobs of each action;
 * - CRM_Civibackup_Site and Jobs: the settings and the job files built from them;
 * - CRM_Civibackup_CodeChanges: each set's changes in CiviCRM's code, kept privately;
 * - CRM_Civibackup_Secrets: what each step gets in its environment (never on disk);
 * - CRM_Civibackup_DestinationSafety: the destination's protection from the web;
 * - CRM_Civibackup_Helper: the bundled Node.js helper and its launcher.
 *
 * CiviCRM is reached only through the seam (CRM_Civibackup_Civi).
 */
final class CRM_Civibackup_BackupService {

  public const SET_ID_PATTERN = CRM_Civibackup_Sets::SET_ID_PATTERN;

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var CRM_Civibackup_RunStore
   */
  private $runs;

  /**
   * @var CRM_Civibackup_RunLock
   */
  private $lock;

  /**
   * @var CRM_Civibackup_Helper
   */
  private $helper;

  /**
   * @var CRM_Civibackup_Site
   */
  private $site;

  /**
   * @var CRM_Civibackup_Jobs
   */
  private $jobs;

  /**
   * @var CRM_Civibackup_Secrets
   */
  private $secrets;

  /**
   * @var CRM_Civibackup_DestinationSafety
   */
  private $safety;

  /**
   * @var CRM_Civibackup_RunEngine
   */
  private $engine;

  /**
   * @var CRM_Civibackup_Sets
   */
  private $sets;

  /**
   * @var CRM_Civibackup_CodeChanges
   */
  private $codeChanges;

  public function __construct(CRM_Civibackup_Civi $civi, string $extensionDir, ?CRM_Civibackup_Launcher $launcher = NULL, ?string $stateDir = NULL) {
    $this->civi = $civi;
    $stateDir = rtrim($stateDir ?? $civi->resolvePath('[civicrm.private]/civibackup'), '/');
    $this->runs = new CRM_Civibackup_RunStore($stateDir . '/runs');
    $this->lock = new CRM_Civibackup_RunLock($stateDir . '/run.lock');
    $this->helper = new CRM_Civibackup_Helper($civi, $extensionDir, $launcher);
    $this->site = new CRM_Civibackup_Site($civi);
    $this->jobs = new CRM_Civibackup_Jobs($civi, $this->site);
    $this->secrets = new CRM_Civibackup_Secrets($civi, $this->site, $this->jobs);
    $this->safety = new CRM_Civibackup_DestinationSafety($civi);
    $this->codeChanges = new CRM_Civibackup_CodeChanges($stateDir . '/changes');
    $this->engine = new CRM_Civibackup_RunEngine($civi, $this->runs, $this->lock, $this->helper, $this->secrets, $this->safety, $stateDir, $this->codeChanges);
    $this->sets = new CRM_Civibackup_Sets($civi, $this->site, $this->helper, $this->lock, $this->codeChanges);
  }

  /**
   * The service wired to the live CiviCRM.
   */
  public static function create(): self {
    return new self(new CRM_Civibackup_CiviRuntime(), CRM_Civibackup_ExtensionUtil::path());
  }

  public function civi(): CRM_Civibackup_Civi {
    return $this->civi;
  }

  public function runs(): CRM_Civibackup_RunStore {
    return $this->runs;
  }

  public function lock(): CRM_Civibackup_RunLock {
    return $this->lock;
  }

  public function launcher(): CRM_Civibackup_Launcher {
    return $this->helper->launcher();
  }

  public function safety(): CRM_Civibackup_DestinationSafety {
    return $this->safety;
  }

  public function destination(): string {
    return $this->site->destination();
  }

  public function loggingSeparate(): bool {
    return $this->site->loggingSeparate();
  }

  public function scratchDsn(): string {
    return $this->secrets->scratchDsn();
  }

  /**
   * The job for a backup now, and the environment carrying its secrets.
   *
   * @return array
   *   [job, secrets]
   */
  public function backupJob(string $trigger): array {
    return $this->jobs->backup($trigger);
  }

  /**
   * @return array
   *   [job, secrets] of Backup.testDestination.
   */
  public function testDestinationJob(array $destination): array {
    return $this->jobs->testDestination($destination);
  }

  /**
   * Backup.run. Attached (cron, CLI) returns the final event; detached returns at once.
   */
  public function runBackup(bool $async, string $trigger): array {
    return (new CRM_Civibackup_BackupTask($this->jobs, $this->helper, $this->safety, $this->engine))->run($async, $trigger);
  }

  /**
   * Backup.verify: hashes, or a test restore into a scratch database (deep).
   */
  public function verify(string $setId, bool $deep, bool $async, string $trigger = 'page', string $identity = ''): array {
    return (new CRM_Civibackup_VerifyTask($this->sets, $this->helper, $this->secrets, $this->engine))->run($setId, $deep, $async, $trigger, $identity);
  }

  /**
   * Backup.restore: the typed confirmation must equal the set id; a safety backup runs
   * first (see CRM_Civibackup_RestoreTask::run() for $options: scope, newDatabase, runId).
   *
   * @param string[] $directories
   *   Labels of the set's directories to restore.
   */
  public function restore(string $setId, bool $database, array $directories, string $confirm, bool $async, string $trigger = 'page', string $identity = '', array $options = []): array {
    return (new CRM_Civibackup_RestoreTask($this->site, $this->jobs, $this->sets, $this->helper, $this->safety, $this->secrets, $this->engine))->run([
      'setId' => $setId,
      'database' => $database,
      'directories' => $directories,
      'confirm' => $confirm,
      'async' => $async,
      'trigger' => $trigger,
      'identity' => $identity,
    ] + $options);
  }

  /**
   * Backup.testDestination.
   *
   * @return array
   *   ['ok' => bool, 'message' => string]
   */
  public function testDestination(array $destination): array {
    return (new CRM_Civibackup_TestDestinationTask($this->civi, $this->jobs, $this->helper))->run($destination);
  }

  /**
   * Backup.status: events after $since; advances a multi-step run whose step has finished.
   */
  public function status(string $runId, int $since = 0): array {
    return $this->engine->status($runId, $since);
  }

  /**
   * Backup.cancel: SIGTERM to the helper of a running run; it ends with a CANCELLED event.
   */
  public function cancel(string $runId): array {
    return $this->engine->cancel($runId);
  }

  /**
   * Records finished runs nobody polled (status checks call it).
   */
  public function reconcile(): void {
    $this->engine->reconcile();
  }

  /**
   * All steps' events of a run as one stream.
   */
  public function mergedEvents(string $runId): array {
    return $this->engine->mergedEvents($runId);
  }

  /**
   * Backup.get: the complete sets at the destination, newest first.
   */
  public function listSets(): array {
    return $this->sets->list();
  }

  /**
   * The sets and the destination's real total (Sets::listing).
   */
  public function listing(): array {
    return $this->sets->listing();
  }

  /**
   * The set with this id, from `list` (or the list given).
   */
  public function findSet(string $setId, ?array $sets = NULL): array {
    return $this->sets->find($setId, $sets);
  }

  /**
   * Backup.codeChanges: what changed in CiviCRM's code between the set and the previous set.
   *
   * @return array
   *   ['setId' => string, 'recorded' => bool, 'changes' => ?array (TreeChanges)]
   */
  public function codeChanges(string $setId): array {
    if (!preg_match(self::SET_ID_PATTERN, $setId)) {
      throw new CRM_Civibackup_Error('USAGE', 'Not a backup set id.', 'Use an id from the list of sets.');
    }
    $changes = $this->codeChanges->load($setId);
    return ['setId' => $setId, 'recorded' => $changes !== NULL, 'changes' => $changes];
  }

  /**
   * Backup.delete: one set; never the newest complete one.
   */
  public function delete(string $setId): array {
    return $this->sets->delete($setId);
  }

}
