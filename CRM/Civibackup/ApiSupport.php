<?php
declare(strict_types = 1);

/**
 * Shared by the API4 actions of Backup: the service, and turning CiviBackup errors into
 * CRM_Core_Exception with the stable code and the hint (the page shows both).
 */
final class CRM_Civibackup_ApiSupport {

  /**
   * @var CRM_Civibackup_BackupService|null
   */
  private static $service;

  public static function service(): CRM_Civibackup_BackupService {
    return self::$service ?? (self::$service = CRM_Civibackup_BackupService::create());
  }

  /**
   * Runs $fn; a CRM_Civibackup_Error becomes a CRM_Core_Exception (error_code = the stable code).
   *
   * CiviCRM's API4 AJAX handler shows an exception's message to users without "view debug
   * output" only when its data says show_detailed_error, and it sends getCode(), which is 0
   * for string codes. So the message itself carries "[CODE] message" and, on its second line,
   * the hint: the page (ts-src/ui/api/crm-api.ts) splits them apart again.
   *
   * @return mixed
   */
  public static function call(callable $fn) {
    try {
      return $fn(self::service());
    }
    catch (CRM_Civibackup_Error $e) {
      $message = '[' . $e->getErrorCode() . '] ' . $e->getMessage() . ($e->getHint() !== '' ? "\n" . $e->getHint() : '');
      throw new \CRM_Core_Exception($message, $e->getErrorCode(), ['hint' => $e->getHint(), 'show_detailed_error' => TRUE], $e);
    }
  }

}
