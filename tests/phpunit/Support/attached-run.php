<?php
// Child process for RunLifecycleTest: runs an ATTACHED backup (as cron does) with the
// FakeCiviSeam stand-in and a fake node, and prints the final event as JSON.
declare(strict_types = 1);
require __DIR__ . '/../bootstrap.php';
require __DIR__ . '/../Fake/FakeCiviSeam.php';
[, $dir] = $argv;
$civi = new FakeCiviSeam($dir . '/private');
$civi->directories['custom'] = $dir . '/custom/';
$launcher = new CRM_Civibackup_Launcher($dir . '/ext/dist/civibackup.mjs', $dir . '/bin/node', $dir . '/bin:/usr/bin:/bin');
$service = new CRM_Civibackup_BackupService($civi, $dir . '/ext', $launcher);
echo json_encode($service->runBackup(FALSE, 'cron')), "\n";
