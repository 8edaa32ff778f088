<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Starts a backup. From the page ({async: true}) it returns the run id at once and the
 * page polls Backup.status; cron and the CLI wait and get the final event.
 *
 * Returns one record: {runId, result?}.
 */
class Run extends AbstractAction {

  /**
   * Return at once with the run id (the helper runs in the background).
   *
   * @var bool
   */
  protected $async = FALSE;

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->runBackup((bool) $this->async, $this->async ? 'page' : 'api');
    });
  }

}
