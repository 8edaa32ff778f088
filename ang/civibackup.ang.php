<?php
declare(strict_types = 1);

// Delivers the Lit bundle (an IIFE defining <civibackup-app> and friends; built by
// `npm run build`, shipped in the release zip, not committed) and the page's boot data.
// Module settings are exposed to the browser as CRM.civibackup
// (Civi/Angular/AngularLoader.php: settingsFactory results are merged per module name).
return [
  'js' => ['dist/ui/civibackup-ui.js'],
  'css' => [],
  'partials' => [],
  'requires' => [],
  // Loaded only where a page asks for it (CRM_Civibackup_Page_Backups).
  'basePages' => [],
  'settingsFactory' => ['CRM_Civibackup_BootData', 'get'],
  'permissions' => ['administer backups', 'administer CiviCRM system'],
];
