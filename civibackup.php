<?php
declare(strict_types = 1);

// Hooks only: each delegates to a class under CRM/Civibackup.

// By path, not through the include path: that holds the current directory ahead of this
// folder, and a copy of the extension there (its source tree, an older unpacked release) would
// otherwise be the one loaded, with its own E::path() and helper.
require_once __DIR__ . '/civibackup.civix.php';
// This folder first in the include path now, not only at hook_civicrm_config: CiviCRM's core
// class loader finds CRM_* classes through the include path, and CiviCRM may load this
// extension's classes before that hook (its class scan), which took them from such a copy.
_civibackup_civix_civicrm_config();

use CRM_Civibackup_ExtensionUtil as E;

/**
 * Implements hook_civicrm_config().
 *
 * @link https://docs.civicrm.org/dev/en/latest/hooks/hook_civicrm_config/
 */
function civibackup_civicrm_config(\CRM_Core_Config $config): void {
  _civibackup_civix_civicrm_config($config);
}

/**
 * Implements hook_civicrm_install().
 *
 * @link https://docs.civicrm.org/dev/en/latest/hooks/hook_civicrm_install
 */
function civibackup_civicrm_install(): void {
  _civibackup_civix_civicrm_install();
}

/**
 * Implements hook_civicrm_postInstall(): a destination outside the web root when possible.
 */
function civibackup_civicrm_postInstall(): void {
  CRM_Civibackup_Hooks::postInstall();
}

/**
 * Implements hook_civicrm_enable().
 *
 * @link https://docs.civicrm.org/dev/en/latest/hooks/hook_civicrm_enable
 */
function civibackup_civicrm_enable(): void {
  _civibackup_civix_civicrm_enable();
}

/**
 * Implements hook_civicrm_uninstall(): no civibackup_* setting or stored secret stays behind.
 * (The scheduled job goes with its managed entity, cleanup 'always'.)
 */
function civibackup_civicrm_uninstall(): void {
  CRM_Civibackup_Hooks::uninstall();
}

/**
 * Implements hook_civicrm_permission().
 */
function civibackup_civicrm_permission(array &$permissions): void {
  CRM_Civibackup_Hooks::permission($permissions);
}

/**
 * Implements hook_civicrm_navigationMenu(): Administer » System Settings » Backups.
 */
function civibackup_civicrm_navigationMenu(&$menu): void {
  CRM_Civibackup_Hooks::navigationMenu($menu);
  _civibackup_civix_navigationMenu($menu);
}

/**
 * Implements hook_civicrm_check(): backup age, failures, restorability, Node, destination.
 */
function civibackup_civicrm_check(&$messages, $statusNames = [], $includeDisabled = FALSE): void {
  CRM_Civibackup_Hooks::check($messages, (array) $statusNames, (bool) $includeDisabled);
}
