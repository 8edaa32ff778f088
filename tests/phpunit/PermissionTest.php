<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Every API4 action of Backup, and the page, need `administer backups` (or
 * `administer CiviCRM system` / `administer CiviCRM` for the page). Runs the real
 * Civi/Api4 classes on top of tests/phpunit/Fake/Api4StandIns.php.
 */
final class PermissionTest extends TestCase {

  private const REQUIRED = [['administer backups', 'administer CiviCRM system']];

  public static function setUpBeforeClass(): void {
    require_once __DIR__ . '/Fake/Api4StandIns.php';
    require_once __DIR__ . '/Fake/FakeCiviSeam.php';
  }

  /**
   * @return string[]
   *   Action names from the files under Civi/Api4/Action/Backup/.
   */
  private static function actionNames(): array {
    $names = [];
    foreach (glob(dirname(__DIR__, 2) . '/Civi/Api4/Action/Backup/*.php') as $file) {
      $names[] = lcfirst(basename($file, '.php'));
    }
    sort($names);
    return $names;
  }

  public function testTheActionsOfTheContractExist(): void {
    $this->assertSame(['cancel', 'codeChanges', 'delete', 'get', 'getConfig', 'overview', 'restore', 'run', 'saveConfig', 'status', 'testDestination', 'verify'], self::actionNames());
  }

  public function testEveryActionRequiresAdministerBackups(): void {
    foreach (array_merge(self::actionNames(), ['getFields']) as $name) {
      $action = \Civi\Api4\Backup::$name();
      $this->assertInstanceOf(\Civi\Api4\Generic\AbstractAction::class, $action, $name);
      $this->assertTrue($action->getCheckPermissions(), "$name checks permissions by default");
      $this->assertSame('Backup', $action->getEntityName());
      $this->assertSame($name, $action->getActionName());
      $this->assertSame(self::REQUIRED, $action->getPermissions(), "$name needs administer backups (or administer CiviCRM system)");
      if ($name !== 'getFields') {
        $this->assertSame('Civi\\Api4\\Action\\Backup\\' . ucfirst($name), get_class($action));
      }
    }
    // getActions and any action added later without its own entry fall back to these.
    $permissions = \Civi\Api4\Backup::permissions();
    $this->assertSame(self::REQUIRED, $permissions['meta']);
    $this->assertSame(self::REQUIRED, $permissions['default']);
    $this->assertSame(['meta', 'default'], array_keys($permissions), 'no action is given a weaker permission');
  }

  public function testPermissionIsDeclaredWithLabelDescriptionAndImpliedBy(): void {
    $permissions = [];
    CRM_Civibackup_Hooks::permission($permissions);
    $this->assertSame(['administer backups'], array_keys($permissions));
    $this->assertNotEmpty($permissions['administer backups']['label']);
    $this->assertNotEmpty($permissions['administer backups']['description']);
    $this->assertSame(['administer CiviCRM system'], $permissions['administer backups']['implied_by']);
  }

  public function testPageAndMenuNeedThePermission(): void {
    $xml = simplexml_load_file(dirname(__DIR__, 2) . '/xml/Menu/civibackup.xml');
    $this->assertCount(1, $xml->item);
    $item = $xml->item[0];
    $this->assertSame('civicrm/admin/setting/civibackup', (string) $item->path);
    $this->assertSame('CRM_Civibackup_Page_Backups', (string) $item->page_callback);
    $this->assertSame('administer CiviCRM;administer backups', (string) $item->access_arguments, "';' is OR in CiviCRM menu XML");
    $this->assertSame('System Settings', (string) $item->adminGroup);

    $menu = [['attributes' => ['name' => 'Administer'], 'child' => [['attributes' => ['name' => 'System Settings'], 'child' => []]]]];
    CRM_Civibackup_Hooks::navigationMenu($menu);
    $entry = $menu[0]['child'][0]['child'][0]['attributes'];
    $this->assertSame('civicrm/admin/setting/civibackup?reset=1', $entry['url']);
    $this->assertSame('administer CiviCRM,administer backups', $entry['permission']);
    $this->assertSame('OR', $entry['operator']);
  }

}
