<?php
declare(strict_types = 1);

/**
 * A FAKE `node` for the run tests: a shell script that answers `--version` with v20 and
 * otherwise runs the body a test scripts, with $2 = the helper verb. The body writes helper
 * events with @start(SEQ|,"field":...), @result(...) and @error(...): one NDJSON line each,
 * carrying the run id the launcher passes (CIVIBACKUP_RUN_ID). It stands in for the helper
 * where exact, hard-to-provoke cases matter; HelperIntegrationTest runs the real one.
 */
final class FakeNode {

  /**
   * Writes $dir/bin/node and a stand-in bundle $dir/ext/dist/civibackup.mjs; returns a
   * launcher using them.
   */
  public static function install(string $dir, string $body): CRM_Civibackup_Launcher {
    @mkdir($dir . '/ext/dist', 0700, TRUE);
    @mkdir($dir . '/bin', 0700, TRUE);
    if (!is_file($dir . '/ext/dist/civibackup.mjs')) {
      file_put_contents($dir . '/ext/dist/civibackup.mjs', '// stand-in; the fake node never reads it');
    }
    $event = function (string $type, string $extra = ''): string {
      return "echo '{\"v\":1,\"seq\":SEQ,\"runId\":\"'\"\$CIVIBACKUP_RUN_ID\"'\",\"time\":\"2026-11-26T07:00:00Z\",\"type\":\"$type\"$extra}'";
    };
    $body = preg_replace_callback('/@(start|result|error)\(([^)]*)\)/', function ($m) use ($event) {
      [$seq, $extra] = array_pad(explode('|', $m[2], 2), 2, '');
      return str_replace('SEQ', $seq, $event($m[1], $extra));
    }, $body);
    TempDir::script($dir . '/bin/node', "if [ \"\$1\" = \"--version\" ]; then echo v20.9.0; exit 0; fi\n$body");
    return new CRM_Civibackup_Launcher($dir . '/ext/dist/civibackup.mjs', $dir . '/bin/node', $dir . '/bin:/usr/bin:/bin');
  }

  /**
   * Polls Backup.status until $until says so (at most 120 s); returns the last status.
   */
  public static function poll(CRM_Civibackup_BackupService $service, string $runId, callable $until): array {
    $deadline = time() + 120;
    while (TRUE) {
      $status = $service->status($runId, 0);
      if ($until($status)) {
        return $status;
      }
      if (time() > $deadline) {
        throw new RuntimeException('condition not reached in 120 s: ' . json_encode($status));
      }
      usleep(20000);
    }
  }

}
