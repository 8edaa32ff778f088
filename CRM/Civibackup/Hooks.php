<?php
declare(strict_types = 1);

use CRM_Civibackup_ExtensionUtil as E;

/**
 * The bodies of the hooks in civibackup.php.
 */
final class CRM_Civibackup_Hooks {

  public const PERMISSION = 'administer backups';

  /**
   * Status check names, so hook_civicrm_check can skip work when others are asked for.
   */
  public const CHECK_NAMES = [
    'civibackupNode',
    'civibackupSetsUnknown',
    'civibackupNoRecentBackup',
    'civibackupLastRunFailed',
    'civibackupNotProvenRestorable',
    'civibackupDestinationInWebRoot',
    'civibackupDestinationReadable',
    'civibackupNotEncrypted',
    'civibackupNoOffsite',
    'civibackupCheckFailed',
  ];

  public static function permission(array &$permissions): void {
    $permissions[self::PERMISSION] = [
      'label' => E::ts('CiviBackup: administer backups'),
      'description' => E::ts('Configure, run, verify, delete and restore backups of the whole site (database and files). Restoring replaces live data.'),
      'implied_by' => ['administer CiviCRM system'],
    ];
  }

  public static function navigationMenu(array &$menu): void {
    _civibackup_civix_insert_navigation_menu($menu, 'Administer/System Settings', [
      'label' => E::ts('Backups'),
      'name' => 'civibackup_backups',
      'url' => 'civicrm/admin/setting/civibackup?reset=1',
      // CRM_Core_BAO_Navigation::checkPermission reads 'permission' (comma list) and 'operator'.
      'permission' => 'administer CiviCRM,' . self::PERMISSION,
      'operator' => 'OR',
      'separator' => 0,
      'icon' => 'crm-i fa-database',
    ]);
  }

  public static function check(array &$messages, array $statusNames, bool $includeDisabled): void {
    if ($statusNames && !array_intersect(self::CHECK_NAMES, $statusNames)) {
      return;
    }
    $civi = new CRM_Civibackup_CiviRuntime();
    try {
      $service = new CRM_Civibackup_BackupService($civi, E::path());
      $service->reconcile();
      $checks = new CRM_Civibackup_StatusChecks(
        $civi,
        function () use ($service): ?array {
          // A CRM_Civibackup_Error goes to StatusChecks, which reports it.
          return $service->listSets();
        },
        function () use ($service): string {
          return $service->launcher()->checkNode();
        },
        $service->destination()
      );
      $records = $checks->evaluate();
    }
    catch (\Throwable $e) {
      $records = [[
        'name' => 'civibackupCheckFailed',
        'level' => 'warning',
        'title' => E::ts('Backups'),
        'message' => E::ts('CiviBackup could not check the state of backups: %1', [1 => $e->getMessage()]),
        'icon' => 'fa-database',
      ]];
    }
    foreach ($records as $record) {
      if ($statusNames && !in_array($record['name'], $statusNames, TRUE)) {
        continue;
      }
      $messages[] = $civi->checkMessage($record['name'], $record['message'], $record['title'], $record['level'], $record['icon']);
    }
  }

  /**
   * Uninstall leaves no setting or stored secret behind, and no run logs. Backup sets are
   * the administrator's data and stay where they are.
   */
  public static function uninstall(): void {
    $civi = new CRM_Civibackup_CiviRuntime();
    $civi->removeSettings(CRM_Civibackup_Config::settingNames());
    $stateDir = $civi->resolvePath('[civicrm.private]/civibackup');
    $runs = new CRM_Civibackup_RunStore($stateDir . '/runs');
    $runs->prune(0);
    @rmdir($runs->root());
    @unlink($stateDir . '/run.lock');
  }

}
