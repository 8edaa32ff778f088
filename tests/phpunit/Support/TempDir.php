<?php
declare(strict_types = 1);

/**
 * A private temporary directory per test, removed afterwards.
 */
final class TempDir {

  public static function create(string $prefix): string {
    $dir = sys_get_temp_dir() . '/' . $prefix . bin2hex(random_bytes(5));
    mkdir($dir, 0700, TRUE);
    return $dir;
  }

  public static function remove(string $dir): void {
    if (!is_dir($dir) || is_link($dir)) {
      @unlink($dir);
      return;
    }
    foreach (scandir($dir) ?: [] as $name) {
      if ($name !== '.' && $name !== '..') {
        self::remove($dir . '/' . $name);
      }
    }
    @rmdir($dir);
  }

  /**
   * Writes an executable script (a fake `node`).
   */
  public static function script(string $path, string $body): string {
    file_put_contents($path, "#!/bin/sh\n" . $body);
    chmod($path, 0755);
    return $path;
  }

}
