<?php
declare(strict_types = 1);

/**
 * The bundled Node.js helper of this extension: where its bundle is, and the launcher that
 * runs it with the node binary the settings name. The launcher is made on first use, so code
 * that never starts the helper works without a built bundle.
 */
final class CRM_Civibackup_Helper {

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var string
   */
  private $extensionDir;

  /**
   * @var CRM_Civibackup_Launcher|null
   */
  private $launcher;

  public function __construct(CRM_Civibackup_Civi $civi, string $extensionDir, ?CRM_Civibackup_Launcher $launcher = NULL) {
    $this->civi = $civi;
    $this->extensionDir = rtrim($extensionDir, '/');
    $this->launcher = $launcher;
  }

  public function launcher(): CRM_Civibackup_Launcher {
    if ($this->launcher === NULL) {
      $this->launcher = new CRM_Civibackup_Launcher($this->script(), (string) $this->civi->getSetting('civibackup_node_path'));
    }
    return $this->launcher;
  }

  public function script(): string {
    $script = $this->extensionDir . '/dist/civibackup.mjs';
    // Beside the entry point (rollup.config.js): the pack writer's worker thread, and the chunks
    // (mysql2, offsite SDKs) a run loads when it first needs them, which would fail only then.
    $dist = $this->extensionDir . '/dist';
    foreach ([$script, "$dist/civibackup-pack-worker.mjs", "$dist/helper-chunks"] as $file) {
      if (!file_exists($file)) {
        throw new CRM_Civibackup_Error('CONFIG', "The helper $file is missing.", 'Install CiviBackup from its release zip, or run `npm run build` in the extension directory.');
      }
    }
    return $script;
  }

  /**
   * Whether this helper knows a verb (an older bundle may not): its usage lists it.
   */
  public function hasVerb(string $verb): bool {
    return strpos($this->launcher()->helpText(), "civibackup $verb ") !== FALSE;
  }

  /**
   * Runs a helper command that answers at once (`list`, ...) and returns its result event's
   * summary; a failure is thrown as the helper reported it.
   */
  public function summaryOf(array $args, array $secrets = []): array {
    $final = $this->launcher()->runAttached($args, $secrets);
    if (($final['type'] ?? '') !== 'result') {
      throw self::errorFromEvent($final);
    }
    return (array) ($final['summary'] ?? []);
  }

  public static function errorFromEvent(array $event): CRM_Civibackup_Error {
    return new CRM_Civibackup_Error((string) ($event['code'] ?? 'INTERNAL'), (string) ($event['message'] ?? 'The helper failed.'), (string) ($event['hint'] ?? ''));
  }

}
