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
    'civibackupDestinationDownloadable',
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
        $service->destination(),
        NULL,
        $service->safety()
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
      // System Status shows messages as HTML; ours are plain text (paths, the <Directory> snippet).
      $messages[] = $civi->checkMessage($record['name'], htmlspecialchars($record['message'], ENT_NOQUOTES), $record['title'], $record['level'], $record['icon']);
    }
  }

  /**
   * Uninstall leaves no setting or stored secret behind, and no run logs or code-change
   * records. Backup sets are the administrator's data and stay where they are.
   */
  public static function uninstall(): void {
    $civi = new CRM_Civibackup_CiviRuntime();
    $civi->removeSettings(CRM_Civibackup_Config::settingNames());
    $stateDir = $civi->resolvePath('[civicrm.private]/civibackup');
    $runs = new CRM_Civibackup_RunStore($stateDir . '/runs');
    $runs->prune(0);
    @rmdir($runs->root());
    (new CRM_Civibackup_CodeChanges($stateDir . '/changes'))->removeAll();
    @unlink($stateDir . '/run.lock');
    @unlink($stateDir . '/' . CRM_Civibackup_DestinationSafety::PROBE_CACHE_FILE);
  }

  /**
   * A new install gets a destination outside the web root when the site can create one
   * (CRM_Civibackup_Site::defaultDestination). Never fails the install: the old default
   * stays, and the download probe guards it.
   */
  public static function postInstall(): void {
    try {
      (new CRM_Civibackup_Site(new CRM_Civibackup_CiviRuntime()))->rememberDefaultDestination();
    }
    catch (\Throwable $e) {
      \Civi::log()->warning('CiviBackup could not choose a default destination: ' . $e->getMessage());
    }
  }

}
