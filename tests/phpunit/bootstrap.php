<?php
// Tests of the PHP classes that need no CiviCRM runtime. CiviCRM's own classes are not
// available in CI; the few the extension touches are reached through one small seam.
declare(strict_types = 1);
spl_autoload_register(function (string $class): void {
  $root = dirname(__DIR__, 2);
  $file = $root . '/' . str_replace(['\\', '_'], '/', $class) . '.php';
  if (is_file($file)) {
    require_once $file;
  }
});
