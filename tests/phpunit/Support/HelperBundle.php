<?php
declare(strict_types = 1);

/**
 * The built helper (dist/civibackup.mjs) for the integration tests: built with rollup when a
 * test runs before `npm run build` (npm test builds first).
 */
final class HelperBundle {

  public static function ensureBuilt(): void {
    $root = dirname(__DIR__, 3);
    if (is_file($root . '/dist/civibackup.mjs')) {
      return;
    }
    $build = proc_open(['npx', 'rollup', '-c', '--silent'], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['pipe', 'w']], $pipes, $root);
    $errors = stream_get_contents($pipes[2]);
    fclose($pipes[2]);
    if (proc_close($build) !== 0 || !is_file($root . '/dist/civibackup.mjs')) {
      throw new RuntimeException("Building the helper failed: $errors");
    }
  }

}
