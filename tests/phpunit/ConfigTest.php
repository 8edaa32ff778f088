<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Backup.getConfig / saveConfig behind the FakeCiviSeam stand-in: validation per field, and
 * secrets that go in but never come out.
 */
final class ConfigTest extends TestCase {

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  /**
   * @var CRM_Civibackup_Config
   */
  private $config;

  protected function setUp(): void {
    $this->civi = new FakeCiviSeam('/tmp/private');
    $this->civi->directories = ['custom' => '/srv/custom/', 'images' => '/srv/images/', 'templates' => NULL, 'php' => NULL, 'extensions' => '/srv/ext/'];
    $this->config = new CRM_Civibackup_Config($this->civi);
  }

  private function s3(string $name, ?string $secret): array {
    $item = ['name' => $name, 'type' => 's3', 'options' => ['bucket' => 'b', 'accessKeyId' => 'AKIA', 'region' => 'eu-west-1']];
    if ($secret !== NULL) {
      $item['secret'] = $secret;
    }
    return $item;
  }

  public function testGetConfigShapeAndDefaults(): void {
    $config = $this->config->get(FALSE);
    $this->assertSame(['includeDatabase', 'includeLoggingDatabase', 'loggingDatabaseSeparate', 'directories', 'destination', 'retention', 'sourceId', 'recipients', 'skipCacheData', 'alertEmails', 'maxAgeHours', 'nodePath', 'offsite', 'schedule'], array_keys($config));
    $this->assertSame('', $config['sourceId'], 'no source id by default: the source is told by host name and database');
    $this->assertSame('[civicrm.private]/civibackup/sets', $config['destination']);
    $this->assertSame(['custom', 'images', 'templates', 'php', 'extensions', 'code'], array_column($config['directories'], 'key'));
    // CiviCRM's code is included by default (issue #14: deduplicated, it costs what changed).
    $this->assertTrue($config['directories'][5]['included']);
    $this->assertSame('/srv/custom/', $config['directories'][0]['path']);
    $this->assertNull($config['directories'][2]['path']);
    $this->assertSame(['frequency' => 'Daily', 'active' => TRUE], $config['schedule']);
  }

  public function testSecretsAreWriteOnlyAndEncryptedAtRest(): void {
    $this->assertSame([], $this->config->save(['offsite' => [$this->s3('eu', 'SECRET-ONE'), $this->s3('us', 'SECRET-TWO')]]));
    $stored = $this->civi->settings['civibackup_offsite_secrets'];
    $this->assertStringStartsWith('FAKE-ENCRYPTED:', $stored, 'stored through the seam\'s encryptSecret');
    $this->assertStringNotContainsString('SECRET-ONE', $stored);
    $this->assertStringNotContainsString('SECRET', (string) $this->civi->settings['civibackup_offsite']);

    $config = $this->config->get(FALSE);
    $this->assertStringNotContainsString('SECRET-', json_encode($config));
    $this->assertSame([TRUE, TRUE], array_column($config['offsite'], 'hasSecret'));

    // Saving again without the secret keeps it; dropping a destination drops its secret.
    $this->assertSame([], $this->config->save(['offsite' => [$this->s3('eu', NULL)]]));
    $this->assertSame(['eu' => 'SECRET-ONE'], CRM_Civibackup_Config::offsiteSecrets($this->civi));
    // A new destination without a secret is refused.
    $errors = $this->config->save(['offsite' => [$this->s3('eu', NULL), $this->s3('new', NULL)]]);
    $this->assertArrayHasKey('offsite.1.secret', $errors);
  }

  public function testValidationNamesEachFieldAndSavesNothing(): void {
    $before = $this->civi->settings;
    $errors = $this->config->save([
      'destination' => 'relative/dir',
      'recipients' => ['age1notakey'],
      'alertEmails' => ['ok@example.org', 'not-an-email'],
      'retention' => ['keepLast' => 0, 'keepDaily' => -1],
      'sourceId' => 'our site',
      'maxAgeHours' => 0,
      'nodePath' => '/no/such/node',
      'offsite' => [['name' => 'x', 'type' => 'ftp', 'options' => []], ['name' => 'x', 'type' => 'sftp', 'options' => ['port' => '99999'], 'secret' => 'k']],
      'schedule' => ['frequency' => 'Always'],
    ]);
    $this->assertSame([
      'destination', 'recipients.0', 'alertEmails.1', 'retention.keepDaily', 'retention.keepLast', 'sourceId', 'maxAgeHours', 'nodePath',
      'offsite.0.type', 'offsite.0.secret', 'offsite.1.name', 'offsite.1.options.host', 'offsite.1.options.username', 'offsite.1.options.path', 'offsite.1.options.port', 'schedule.frequency',
    ], array_keys($errors));
    $this->assertSame($before, $this->civi->settings, 'nothing saved');
  }

  public function testSaveWritesSettingsAndTheJobSchedule(): void {
    $this->assertSame([], $this->config->save([
      'destination' => '/backups/civi/',
      'directories' => [['key' => 'extensions', 'included' => FALSE]],
      'retention' => ['keepLast' => 5, 'keepWeekly' => 8],
      'recipients' => ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'],
      'alertEmails' => [' ops@example.org '],
      'schedule' => ['frequency' => 'Hourly', 'active' => FALSE],
    ]));
    $this->assertSame('/backups/civi', $this->civi->settings['civibackup_destination']);
    $this->assertFalse($this->civi->settings['civibackup_include_extensions']);
    $this->assertTrue($this->civi->settings['civibackup_include_custom'], 'directories not sent stay as they were');
    $this->assertSame(5, $this->civi->settings['civibackup_keep_last']);
    $this->assertSame(0, $this->civi->settings['civibackup_keep_daily']);
    $this->assertSame(8, $this->civi->settings['civibackup_keep_weekly']);
    $this->assertSame(['ops@example.org'], $this->civi->settings['civibackup_alert_emails']);
    $this->assertSame('Hourly', $this->civi->job['run_frequency']);
    $this->assertFalse($this->civi->job['is_active']);
  }

  public function testSourceIdIsSavedTrimmedReadBackAndCleared(): void {
    $this->assertSame([], $this->config->save(['sourceId' => ' example-prod ']));
    $this->assertSame('example-prod', $this->civi->settings['civibackup_source_id']);
    $this->assertSame('example-prod', $this->config->get(FALSE)['sourceId']);
    $this->assertSame([], $this->config->save(['destination' => '/backups']), 'a save without sourceId keeps it');
    $this->assertSame('example-prod', $this->civi->settings['civibackup_source_id']);
    $this->assertSame([], $this->config->save(['sourceId' => '']));
    $this->assertSame('', $this->config->get(FALSE)['sourceId'], 'emptied: back to host name and database');
  }

  /**
   * @dataProvider badSourceIds
   */
  public function testSourceIdOutsideTheHelpersPatternIsRefused(string $sourceId): void {
    $before = $this->civi->settings;
    $errors = $this->config->save(['sourceId' => $sourceId]);
    $this->assertSame(['sourceId'], array_keys($errors));
    $this->assertSame($before, $this->civi->settings, 'nothing saved');
  }

  public static function badSourceIds(): array {
    return [
      'space' => ['our site'],
      'pipe' => ['a|b'],
      'equals' => ['host=web1'],
      'leading dot' => ['.prod'],
      'trailing newline inside' => ["prod\nx"],
      'too long' => [str_repeat('a', 65)],
      'not ascii' => ['prod-ü'],
    ];
  }

}
