<?php
/**
 * CiviCRM's cron script (bin/cron.php of the site's CiviCRM) run by php-cli, as a cron line on
 * a Standalone server runs it: the user name, password and site key that its URL form takes
 * come as arguments, the settings file from CIVICRM_SETTINGS (as civicrm.config.php reads it).
 *
 *   CIVICRM_SETTINGS=/path/civicrm.settings.php php cron-cli.php <civicrm>/bin NAME PASS SITE_KEY
 */
if (PHP_SAPI !== 'cli' || $argc !== 5) {
  fwrite(STDERR, "usage: php cron-cli.php <civicrm>/bin NAME PASS SITE_KEY\n");
  exit(2);
}
[, $bin, $name, $pass, $key] = $argv;
$_GET = $_REQUEST = ['name' => $name, 'pass' => $pass, 'key' => $key];
$_SERVER['REQUEST_METHOD'] = 'GET';
chdir($bin);
require $bin . '/cron.php';
