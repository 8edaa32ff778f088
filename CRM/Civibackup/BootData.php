<?php
declare(strict_types = 1);

use CRM_Civibackup_ExtensionUtil as E;

/**
 * Boot data for the page: the settingsFactory of ang/civibackup.ang.php. The browser sees it
 * as CRM.civibackup (AngularLoader merges each module's settings under its name). Small on
 * purpose: everything else comes from Backup.overview and Backup.getConfig.
 */
final class CRM_Civibackup_BootData {

  public const POLL_INTERVAL_MS = 1000;

  public static function get(): array {
    return [
      'canAdminister' => CRM_Core_Permission::check([[CRM_Civibackup_Hooks::PERMISSION, 'administer CiviCRM system']]),
      'version' => self::version(E::path('info.xml')),
      'pollIntervalMs' => self::POLL_INTERVAL_MS,
      // Shown in the per-set restore commands (`node <path> restore ...`); not a secret.
      'helper' => E::path('dist/civibackup.mjs'),
    ];
  }

  public static function version(string $infoXml): string {
    $xml = @simplexml_load_file($infoXml);
    return $xml !== FALSE ? (string) $xml->version : '';
  }

}
