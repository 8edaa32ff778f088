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
   * @return mixed
   */
  public static function call(callable $fn) {
    try {
      return $fn(self::service());
    }
    catch (CRM_Civibackup_Error $e) {
      throw new \CRM_Core_Exception($e->getMessage(), $e->getErrorCode(), ['hint' => $e->getHint()], $e);
    }
  }

}
