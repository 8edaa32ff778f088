<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

final class JobBuilderTest extends TestCase {

  private const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

  private function settings(array $overrides = []): array {
    $settings = [];
    foreach (FakeCiviSeam::settingDefinitions() as $name => $definition) {
      $settings[$name] = $definition['default'];
    }
    return array_merge($settings, $overrides);
  }

  private function context(array $overrides = []): array {
    return array_merge([
      'destination' => '/srv/civibackup/sets/',
      'directories' => [
        'custom' => '/var/www/site/public/custom/',
        'images' => '/var/www/site/public/persist/contribute/',
        'templates' => NULL,
        'php' => '/var/www/site/custom_php/',
        'extensions' => '/var/www/site/ext/',
      ],
      'loggingSeparate' => FALSE,
      'offsite' => [],
      'trigger' => 'cron',
      'civicrmVersion' => '6.17.0',
      'site' => 'Example',
    ], $overrides);
  }

  public function testDefaultJobMatchesProtocol(): void {
    $job = (new CRM_Civibackup_JobBuilder())->build($this->settings(), $this->context());
    $this->assertSame(1, $job['version']);
    $this->assertSame('backup', $job['command']);
    $this->assertSame('/srv/civibackup/sets', $job['to'], 'trailing slash dropped');
    $this->assertSame(['dsnEnv' => 'CIVIBACKUP_DSN', 'skipCacheData' => TRUE], $job['database']);
    $this->assertArrayNotHasKey('loggingDatabase', $job, 'no separate logging database here');
    $this->assertSame([
      ['label' => 'custom', 'path' => '/var/www/site/public/custom'],
      ['label' => 'images', 'path' => '/var/www/site/public/persist/contribute'],
      ['label' => 'php', 'path' => '/var/www/site/custom_php', 'optional' => TRUE],
      ['label' => 'extensions', 'path' => '/var/www/site/ext', 'optional' => TRUE],
    ], $job['files'], 'unset Custom Templates is skipped; labels are the protocol labels');
    foreach ($job['files'] as $dir) {
      $this->assertMatchesRegularExpression(CRM_Civibackup_JobBuilder::LABEL_PATTERN, $dir['label']);
    }
    $this->assertSame(['keepLast' => 3, 'keepDaily' => 7, 'keepWeekly' => 4, 'keepMonthly' => 6], $job['retention']);
    $this->assertArrayNotHasKey('encryption', $job);
    $this->assertSame('cron', $job['trigger']);
    $this->assertSame('6.17.0', $job['civicrmVersion']);
    $this->assertArrayNotHasKey('stateDir', $job, 'no state dir given, none sent');
  }

  public function testStateDirIsPassedWhenAbsolute(): void {
    $job = (new CRM_Civibackup_JobBuilder())->build($this->settings(), $this->context(['stateDir' => '/var/www/private/civibackup/state/']));
    $this->assertSame('/var/www/private/civibackup/state', $job['stateDir']);
    $job = (new CRM_Civibackup_JobBuilder())->build($this->settings(), $this->context(['stateDir' => 'relative/state']));
    $this->assertArrayNotHasKey('stateDir', $job, 'a relative path is not sent (the helper needs an absolute one)');
  }

  public function testSettingsChooseWhatIsIncluded(): void {
    $job = (new CRM_Civibackup_JobBuilder())->build($this->settings([
      'civibackup_include_extensions' => FALSE,
      'civibackup_include_php' => FALSE,
      'civibackup_include_images' => FALSE,
      'civibackup_skip_cache_data' => FALSE,
      'civibackup_recipients' => [self::RECIPIENT, self::RECIPIENT],
    ]), $this->context(['loggingSeparate' => TRUE]));
    $this->assertSame(['custom'], array_column($job['files'], 'label'));
    $this->assertFalse($job['database']['skipCacheData']);
    $this->assertSame(['dsnEnv' => 'CIVIBACKUP_LOGGING_DSN'], $job['loggingDatabase']);
    $this->assertSame(['recipients' => [self::RECIPIENT]], $job['encryption']);
  }

  public function testNoSecretInTheJobAndSecretsOnlyInEnvironment(): void {
    $builder = new CRM_Civibackup_JobBuilder();
    $dsn = 'mysql://civi:Db-Pa55word!@127.0.0.1/civi';
    $loggingDsn = 'mysql://civilog:L0g-Pa55@127.0.0.1/civi_log';
    $offsite = [
      ['name' => 'S3 eu', 'type' => 's3', 'options' => ['bucket' => 'b', 'region' => 'eu-west-1', 'accessKeyId' => 'AKIAEXAMPLE', 'endpoint' => 'https://s3.example', 'forcePathStyle' => 'true']],
      ['name' => 'box', 'type' => 'sftp', 'options' => ['host' => 'backup.example', 'port' => '2222', 'username' => 'civi', 'path' => '/backups']],
    ];
    $secrets = ['S3 eu' => 'S3-SECRET-ACCESS-KEY-xyz', 'box' => "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"];
    $job = $builder->build($this->settings(), $this->context(['loggingSeparate' => TRUE, 'offsite' => $offsite]));
    $env = $builder->secrets($job, $dsn, $loggingDsn, $secrets);

    $json = json_encode($job, JSON_UNESCAPED_SLASHES);
    foreach ([$dsn, $loggingDsn, 'Db-Pa55word!', 'L0g-Pa55', 'S3-SECRET-ACCESS-KEY-xyz', 'OPENSSH PRIVATE KEY'] as $secret) {
      $this->assertStringNotContainsString($secret, $json);
    }
    $this->assertSame([
      'CIVIBACKUP_DSN' => $dsn,
      'CIVIBACKUP_LOGGING_DSN' => $loggingDsn,
      'CIVIBACKUP_OFFSITE_1_SECRET' => 'S3-SECRET-ACCESS-KEY-xyz',
      'CIVIBACKUP_OFFSITE_2_SECRET' => $secrets['box'],
    ], $env);
    $this->assertSame([
      'type' => 's3', 'name' => 'S3 eu', 'region' => 'eu-west-1', 'bucket' => 'b', 'accessKeyId' => 'AKIAEXAMPLE',
      'secretEnv' => 'CIVIBACKUP_OFFSITE_1_SECRET', 'endpoint' => 'https://s3.example', 'forcePathStyle' => TRUE,
    ], $job['offsite'][0]);
    $this->assertSame([
      'type' => 'sftp', 'name' => 'box', 'host' => 'backup.example', 'username' => 'civi', 'path' => '/backups',
      'privateKeyEnv' => 'CIVIBACKUP_OFFSITE_2_SECRET', 'port' => 2222,
    ], $job['offsite'][1]);
  }

  public function testMissingOffsiteSecretIsAConfigError(): void {
    $builder = new CRM_Civibackup_JobBuilder();
    $job = $builder->build($this->settings(), $this->context(['offsite' => [['name' => 'x', 'type' => 's3', 'options' => ['bucket' => 'b', 'accessKeyId' => 'k']]]]));
    $this->expectExceptionObject(new CRM_Civibackup_Error('CONFIG', 'The offsite destination "x" has no stored secret.'));
    $builder->secrets($job, 'mysql://a:b@h/d', NULL, []);
  }

  public function testDestinationInsideABackedUpDirectoryIsExcluded(): void {
    $job = (new CRM_Civibackup_JobBuilder())->build($this->settings(), $this->context(['destination' => '/var/www/site/public/custom/backups']));
    $this->assertSame(['/backups/'], $job['exclude']);
  }

  public function testDestinationContainingABackedUpDirectoryIsRefused(): void {
    $this->expectException(CRM_Civibackup_Error::class);
    $this->expectExceptionMessage('contains it');
    (new CRM_Civibackup_JobBuilder())->build($this->settings(), $this->context(['destination' => '/var/www/site']));
  }

  public function testRelativeDestinationAndBadRecipientAreRefused(): void {
    $builder = new CRM_Civibackup_JobBuilder();
    try {
      $builder->build($this->settings(), $this->context(['destination' => 'backups']));
      $this->fail('relative destination accepted');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('CONFIG', $e->getErrorCode());
    }
    try {
      $builder->build($this->settings(['civibackup_recipients' => ['age1notakey']]), $this->context());
      $this->fail('bad recipient accepted');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('CONFIG', $e->getErrorCode());
      $this->assertStringContainsString('age1notakey', $e->getMessage());
    }
  }

  public function testNothingSelectedIsRefused(): void {
    $settings = $this->settings(['civibackup_include_database' => FALSE]);
    foreach (CRM_Civibackup_JobBuilder::DIRECTORIES as $spec) {
      $settings[$spec['setting']] = FALSE;
    }
    $this->expectExceptionMessage('Nothing is selected');
    (new CRM_Civibackup_JobBuilder())->build($settings, $this->context());
  }

  public function testEverySettingInTheFileIsKnownToConfig(): void {
    $this->assertSame(array_keys(FakeCiviSeam::settingDefinitions()), CRM_Civibackup_Config::settingNames());
    foreach (FakeCiviSeam::settingDefinitions() as $name => $definition) {
      $this->assertStringStartsWith('civibackup_', $name);
      $this->assertSame($name, $definition['name']);
      $this->assertSame('civibackup', $definition['group']);
      foreach (['title', 'description', 'type', 'html_type'] as $key) {
        $this->assertNotEmpty($definition[$key], "$name has $key");
      }
      $this->assertArrayHasKey('default', $definition);
    }
  }

  public function testSourceIdSettingBecomesTheJobsSourceId(): void {
    $builder = new CRM_Civibackup_JobBuilder();
    $this->assertArrayNotHasKey('sourceId', $builder->build($this->settings(), $this->context()), 'unset: the helper tells the source by host name and database');
    $this->assertArrayNotHasKey('sourceId', $builder->build($this->settings(['civibackup_source_id' => '  ']), $this->context()));
    $job = $builder->build($this->settings(['civibackup_source_id' => ' example-prod ']), $this->context());
    $this->assertSame('example-prod', $job['sourceId']);
    $this->assertStringNotContainsString('civibackup_source_id', json_encode($job));
  }

  public function testAnInvalidStoredSourceIdIsAConfigError(): void {
    // Set around the form (cv, the Setting API): the helper would refuse the job, so say why here.
    try {
      (new CRM_Civibackup_JobBuilder())->build($this->settings(['civibackup_source_id' => 'web1 prod']), $this->context());
      $this->fail('invalid source id accepted');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('CONFIG', $e->getErrorCode());
      $this->assertStringContainsString('web1 prod', $e->getMessage());
    }
  }

  public function testSourceIdPatternIsTheHelpersPattern(): void {
    $source = file_get_contents(dirname(__DIR__, 2) . '/ts-src/protocol/manifest.ts');
    $this->assertSame(1, preg_match('~^export const SOURCE_ID_PATTERN = /(.+)/;$~m', $source, $m), 'SOURCE_ID_PATTERN found in manifest.ts');
    // The same expression; D because PHP's $ would otherwise also match before a final newline.
    $this->assertSame('/' . $m[1] . '/D', CRM_Civibackup_JobBuilder::SOURCE_ID_PATTERN);
    $accepted = ['example-prod', 'a', 'Site_2.staging', str_repeat('a', 64), '0'];
    $refused = ['', '-prod', '.prod', '_prod', 'our site', 'a|b', 'host=web1', str_repeat('a', 65), "prod\n", 'prod-ü', 'a/b'];
    foreach ($accepted as $id) {
      $this->assertSame(1, preg_match(CRM_Civibackup_JobBuilder::SOURCE_ID_PATTERN, $id), "accepts \"$id\"");
    }
    foreach ($refused as $id) {
      $this->assertSame(0, preg_match(CRM_Civibackup_JobBuilder::SOURCE_ID_PATTERN, $id), "refuses \"$id\"");
    }
  }

}
