<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Events of a run after a sequence number: {runId, events, done, running}.
 */
class Status extends AbstractAction {

  /**
   * @var string
   * @required
   */
  protected $runId;

  /**
   * Only events with a larger seq.
   *
   * @var int
   */
  protected $since = 0;

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->status((string) $this->runId, (int) $this->since);
    });
  }

}
