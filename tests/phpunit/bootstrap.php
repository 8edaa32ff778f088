<?php
// Tests of the PHP classes that need no CiviCRM runtime. CiviCRM's own classes are not
// available in CI; the few the extension touches are reached through one small seam
// (CRM_Civibackup_Civi), replaced in tests by the stand-in tests/phpunit/Fake/FakeCiviSeam.php.
declare(strict_types = 1);
spl_autoload_register(function (string $class): void {
  $root = dirname(__DIR__, 2);
  $file = $root . '/' . str_replace(['\\', '_'], '/', $class) . '.php';
  if (is_file($file)) {
    require_once $file;
    return;
  }
  // Stand-ins and helpers of the tests themselves (class name = file name).
  foreach (['Fake', 'Support'] as $dir) {
    $file = __DIR__ . '/' . $dir . '/' . $class . '.php';
    if (is_file($file)) {
      require_once $file;
      return;
    }
  }
});
