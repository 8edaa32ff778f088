<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Restores the database and/or directories of a set into this live site.
 *
 * `confirm` must be the set id typed by the administrator. A safety backup of the current
 * state runs first; after a database restore CiviCRM's triggers are rebuilt and its caches
 * cleared (System.flush triggers=1). Returns {runId, result?}.
 */
class Restore extends AbstractAction {

  /**
   * @var string
   * @required
   */
  protected $setId;

  /**
   * Restore the database.
   *
   * @var bool
   */
  protected $database = FALSE;

  /**
   * Labels of directories to restore (custom, images, templates, php, extensions).
   *
   * A list of strings; typed `array` because API4 param validation
   * (ValidateFieldsSubscriber::checkType) rejects `string[]` with "Unknown parameter type".
   *
   * @var array
   */
  protected $directories = [];

  /**
   * The set id, typed again.
   *
   * @var string
   * @required
   */
  protected $confirm;

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
      return $service->restore((string) $this->setId, (bool) $this->database, array_map('strval', (array) $this->directories), (string) $this->confirm, (bool) $this->async, $this->async ? 'page' : 'api', (string) $this->identity);
    });
  }

}
