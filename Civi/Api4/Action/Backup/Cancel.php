<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Stops a running run (SIGTERM to the helper); the set it was writing stays incomplete and
 * is never listed. Returns {runId, cancelled}.
 */
class Cancel extends AbstractAction {

  /**
   * @var string
   * @required
   */
  protected $runId;

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->cancel((string) $this->runId);
    });
  }

}
