<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Restores a set: its database and/or directories over this live site, or its database into
 * a new database for inspection.
 *
 * `confirm` must be the set id typed by the administrator. Over the live site a safety backup
 * of the current state runs first (Backup.status names it as safetySetId: restoring it
 * undoes the restore); after a database restore CiviCRM's triggers are rebuilt and its
 * caches cleared (System.flush triggers=1). Returns {runId, result?}.
 */
class Restore extends AbstractAction {

  /**
   * @var string
   * @required
   */
  protected $setId;

  /**
   * Restore the database over the live site.
   *
   * @var bool
   */
  protected $database = FALSE;

  /**
   * Which tables of the live database a database restore replaces: `civicrm` (CiviCRM's
   * tables only; a CMS sharing the database keeps its own) or `all` (the database becomes
   * exactly the set's).
   *
   * @var string
   * @options civicrm,all
   */
  protected $scope = 'civicrm';

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
   * Instead of the live site: the name of a new (or empty) database on the same server, to
   * restore the set's database into for inspection. Nothing live is replaced, so there is
   * no safety backup. Leave database and directories out.
   *
   * @var string
   */
  protected $newDatabase = '';

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
   * A new run id (yyyymmdd-hhmmss-8 hex digits) chosen by the caller, so it can follow the
   * run with Backup.status while an attached restore (an encrypted set) still runs.
   *
   * @var string
   */
  protected $runId = '';

  /**
   * For an encrypted set: the age identity (AGE-SECRET-KEY-1...). Passed to the helper in
   * its environment for this call only; never stored or logged. A restore over the live
   * site with an identity runs attached (async is ignored).
   *
   * @var string
   */
  protected $identity = '';

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      return $service->restore((string) $this->setId, (bool) $this->database, array_map('strval', (array) $this->directories), (string) $this->confirm, (bool) $this->async, $this->async ? 'page' : 'api', (string) $this->identity, [
        'scope' => (string) $this->scope,
        'newDatabase' => (string) $this->newDatabase,
        'runId' => (string) $this->runId,
      ]);
    });
  }

}
