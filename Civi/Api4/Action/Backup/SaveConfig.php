<?php
declare(strict_types = 1);

namespace Civi\Api4\Action\Backup;

use Civi\Api4\Generic\AbstractAction;
use Civi\Api4\Generic\Result;
use CRM_Civibackup_ApiSupport as Support;

/**
 * Saves the configuration. Fields left out stay unchanged; secrets are write-only.
 * Returns the stored configuration (BackupConfig; secrets as hasSecret flags). When a field
 * is invalid nothing is saved and the call fails with error_code CONFIG and a message naming
 * every field ("destination: ...; recipients.0: ..."); the same messages, keyed by field
 * path, are in the exception's error data as `errors`.
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
      // A new destination the web server would serve is refused (the download probe).
      $errors = $config->save((array) $this->config, function (string $path) use ($service): ?\CRM_Civibackup_Error {
        return $service->safety()->downloadableErrorFor($path);
      });
      if ($errors) {
        $lines = [];
        foreach ($errors as $field => $message) {
          $lines[] = "$field: $message";
        }
        throw new \CRM_Core_Exception(\CRM_Civibackup_ExtensionUtil::ts('Not saved. %1', [1 => implode('; ', $lines)]), 'CONFIG', ['errors' => $errors]);
      }
      return $config->get($service->loggingSeparate());
    });
  }

}
