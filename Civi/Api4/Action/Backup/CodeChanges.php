<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * What changed in CiviCRM's code between one set and the previous set of its source:
 * {setId, recorded, changes}. `recorded` is false for sets whose run did not record it (sets
 * of older versions, command-line runs, format-1 sets, backups without CiviCRM's code).
 */
class CodeChanges extends AbstractAction {

  /**
   * @var string
   * @required
   */
  protected $setId;

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->codeChanges((string) $this->setId);
    });
  }

}
