<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\BasicGetAction;
use CRM_Civibackup_ApiSupport as Support;

/**
 * The complete backup sets at the local destination, newest first (SetSummary records,
 * from `civibackup list --json`).
 *
 * A BasicGetAction, so `select`, `where`, `orderBy`, `limit` and `offset` work as in any
 * API4 get (CiviCRM applies them to the list); without `orderBy` the order stays newest first.
 */
class Get extends BasicGetAction {

  /**
   * Every set: the helper lists them all in one call, so there is nothing to gain from
   * narrowing by `where` here; CiviCRM filters, sorts and trims the records afterwards.
   */
  protected function getRecords() {
    return Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->listSets();
    });
  }

}
