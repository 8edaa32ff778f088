<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * The complete backup sets at the local destination, newest first (SetSummary records,
 * from `civibackup list --json`).
 */
class Get extends AbstractAction {

  public function _run(Result $result) {
    $sets = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->listSets();
    });
    foreach ($sets as $set) {
      $result[] = $set;
    }
  }

}
