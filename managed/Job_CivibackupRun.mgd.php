<?php
declare(strict_types = 1);

use CRM_Civibackup_ExtensionUtil as E;

/**
 * The scheduled backup (Administer » System Settings » Scheduled Jobs). `update` is
 * 'unmodified' so a frequency chosen by the administrator survives upgrades; `cleanup`
 * 'always' removes the job on uninstall.
 */
return [
  [
    'name' => 'Job_CivibackupRun',
    'entity' => 'Job',
    'cleanup' => 'always',
    'update' => 'unmodified',
    'params' => [
      'version' => 4,
      'values' => [
        // Not translated: 'match' finds the job by this name.
        'name' => 'CiviBackup: back up this site',
        'description' => E::ts('Backs up the CiviCRM database and directories as configured at Administer » System Settings » Backups.'),
        'run_frequency' => 'Daily',
        'api_entity' => 'Job',
        'api_action' => 'civibackup_run',
        'parameters' => '',
        'is_active' => TRUE,
      ],
      'match' => ['name'],
    ],
  ],
];
