<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * The configuration the page edits (BackupConfig). Secrets are never returned, only
 * `hasSecret` flags.
 */
class GetConfig extends AbstractAction {

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return (new \CRM_Civibackup_Config($service->civi()))->get($service->loggingSeparate());
    });
  }

}
