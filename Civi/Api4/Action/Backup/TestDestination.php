<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Tries an offsite destination: list, write and remove a probe object. Returns {ok, message}.
 */
class TestDestination extends AbstractAction {

  /**
   * The destination as edited (OffsiteConfig); its secret may be left out when one is
   * stored under the same name.
   *
   * @var array
   * @required
   */
  protected $destination = [];

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->testDestination((array) $this->destination);
    });
  }

}
