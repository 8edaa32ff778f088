<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Deletes one backup set. The newest complete set is refused. Returns {setId, deleted}.
 */
class Delete extends AbstractAction {

  /**
   * @var string
   * @required
   */
  protected $setId;

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->delete((string) $this->setId);
    });
  }

}
