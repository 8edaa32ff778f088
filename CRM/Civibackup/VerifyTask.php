<?php
declare(strict_types = 1);

/**
 * Backup.verify: one helper step, `verify SET` (hashes), or `verify SET --deep` (a test
 * restore into the scratch database, whose DSN travels in the environment).
 */
final class CRM_Civibackup_VerifyTask {

  /**
   * @var CRM_Civibackup_Sets
   */
  private $sets;

  /**
   * @var CRM_Civibackup_Helper
   */
  private $helper;

  /**
   * @var CRM_Civibackup_Secrets
   */
  private $secrets;

  /**
   * @var CRM_Civibackup_RunEngine
   */
  private $engine;

  public function __construct(CRM_Civibackup_Sets $sets, CRM_Civibackup_Helper $helper, CRM_Civibackup_Secrets $secrets, CRM_Civibackup_RunEngine $engine) {
    $this->sets = $sets;
    $this->helper = $helper;
    $this->secrets = $secrets;
    $this->engine = $engine;
  }

  public function run(string $setId, bool $deep, bool $async, string $trigger = 'page', string $identity = ''): array {
    $set = $this->sets->find($setId);
    $args = ['verify', $set['location']];
    if ($deep) {
      $args[] = '--deep';
    }
    $this->helper->launcher()->checkNode();
    return $this->engine->start('verify', $trigger, [
      ['args' => $args, 'secrets' => $deep ? 'scratch' : 'none'],
    ], $async, NULL, $this->secrets->forStep($deep ? 'scratch' : 'none') + CRM_Civibackup_Secrets::identity($identity));
  }

}
