<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Saves the configuration. Fields left out stay unchanged; secrets are write-only.
 * Returns {saved, errors, config?}: errors are keyed by field path and nothing is saved
 * when there are any.
 */
class SaveConfig extends AbstractAction {

  /**
   * The fields to change (see BackupConfig in ts-src/protocol/api.ts).
   *
   * @var array
   * @required
   */
  protected $config = [];

  public function _run(Result $result) {
    $result[] = Support::call(function (\CRM_Civibackup_BackupService $service) {
      $config = new \CRM_Civibackup_Config($service->civi());
      $errors = $config->save((array) $this->config);
      if ($errors) {
        return ['saved' => FALSE, 'errors' => $errors];
      }
      return ['saved' => TRUE, 'errors' => [], 'config' => $config->get($service->loggingSeparate())];
    });
  }

}
