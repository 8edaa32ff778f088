<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * API4 validates every param against its @var type and throws "Unknown parameter type" for
 * anything outside the list in civicrm-core Civi/Api4/Event/Subscriber/ValidateFieldsSubscriber
 * ::checkType (a `string[]` once made every restore call fail on the QA site).
 */
final class ApiParamsTest extends TestCase {

  private const API4_TYPES = ['array', 'bool', 'string', 'object', 'int', 'float', 'mixed'];

  public static function setUpBeforeClass(): void {
    require_once __DIR__ . '/Fake/Api4StandIns.php';
  }

  public function testEveryActionParamHasATypeApi4Accepts(): void {
    $checked = 0;
    foreach (glob(dirname(__DIR__, 2) . '/Civi/Api4/Action/Backup/*.php') as $file) {
      $class = 'Civi\\Api4\\Action\\Backup\\' . basename($file, '.php');
      $reflection = new ReflectionClass($class);
      foreach ($reflection->getProperties(ReflectionProperty::IS_PROTECTED) as $property) {
        if ($property->getDeclaringClass()->getName() !== $class) {
          continue;
        }
        $doc = (string) $property->getDocComment();
        $this->assertMatchesRegularExpression('/@var\s+\S+/', $doc, "$class::\${$property->getName()} has an @var type");
        preg_match('/@var\s+(\S+)/', $doc, $m);
        foreach (explode('|', $m[1]) as $type) {
          $this->assertContains($type, self::API4_TYPES, "$class::\${$property->getName()} is typed $m[1]");
        }
        $checked++;
      }
    }
    $this->assertGreaterThanOrEqual(14, $checked);
  }

}
