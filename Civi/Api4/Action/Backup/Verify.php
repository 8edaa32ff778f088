<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Verifies a set: hashes of every part, or with deep=TRUE a test restore into a scratch
 * database (the site's database name + "_cbscratch"). Returns {runId, result?}.
 */
class Verify extends AbstractAction {

  /**
   * @var string
   * @required
   */
  protected $setId;

  /**
   * Test-restore the set into a scratch database.
   *
   * @var bool
   */
  protected $deep = FALSE;

  /**
   * @var bool
   */
  protected $async = FALSE;

  /**
   * For an encrypted set: the age identity (AGE-SECRET-KEY-1...). Passed to the helper in
   * its environment for this call only; never stored or logged. A restore with an
   * identity runs attached (async is ignored).
   *
   * @var string
   */
  protected $identity = '';

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->verify((string) $this->setId, (bool) $this->deep, (bool) $this->async, $this->async ? 'page' : 'api', (string) $this->identity);
    });
  }

}
