<?php
declare(strict_types = 1);

/**
 * Backup.run and the scheduled job: one helper step, `backup --job FILE`.
 */
final class CRM_Civibackup_BackupTask {

  /**
   * @var CRM_Civibackup_Jobs
   */
  private $jobs;

  /**
   * @var CRM_Civibackup_Helper
   */
  private $helper;

  /**
   * @var CRM_Civibackup_DestinationSafety
   */
  private $safety;

  /**
   * @var CRM_Civibackup_RunEngine
   */
  private $engine;

  public function __construct(CRM_Civibackup_Jobs $jobs, CRM_Civibackup_Helper $helper, CRM_Civibackup_DestinationSafety $safety, CRM_Civibackup_RunEngine $engine) {
    $this->jobs = $jobs;
    $this->helper = $helper;
    $this->safety = $safety;
    $this->engine = $engine;
  }

  /**
   * Attached (cron, CLI) returns the final event; detached returns at once.
   */
  public function run(bool $async, string $trigger): array {
    [$job, $secrets] = $this->jobs->backup($trigger);
    $this->helper->launcher()->checkNode();
    $this->safety->ensureDestination($job['to']);
    $this->safety->refuseIfDownloadable($job['to']);
    return $this->engine->start('backup', $trigger, [
      ['args' => ['backup', '--job', '{job}'], 'secrets' => 'backup'],
    ], $async, $job, $secrets);
  }

}
