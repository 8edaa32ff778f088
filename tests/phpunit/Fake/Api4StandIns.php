<?php
// phpcs:ignoreFile
declare(strict_types = 1);

/**
 * STAND-INS FOR CIVICRM'S API4 BASE CLASSES (Civi\Api4\Generic\*), which cannot be loaded in
 * CI. Just enough for Civi/Api4/Backup.php and its action classes to load and be
 * constructed. AbstractAction::getPermissions() copies the lookup of the real class
 * (civicrm-core Civi/Api4/Generic/AbstractAction.php: action name, then the meta/default
 * bucket, then 'default'), so the test reads the permissions the way CiviCRM would. Whether
 * CiviCRM then enforces them is CiviCRM's own business and is checked on the QA site.
 *
 * The parameters behave as in civicrm-core: every protected property whose name does not start
 * with "_" is a parameter with a magic setX()/getX(), and any other setX() throws "Unknown api
 * parameter" (that is how CiviCRM refuses `select` on an action that has no such property).
 * BasicGetAction applies select, where, orderBy, limit and offset to the getter's records the
 * way civicrm-core's ArrayQueryActionTrait documents (a subset of the operators), after padding
 * each record with the declared fields and casting Integer/Boolean/Float values as
 * FormattingUtil::convertDataType does. It is a model written for these tests, not CiviCRM's code.
 */

namespace Civi\Api4\Generic;

abstract class AbstractEntity {

  public static function getEntityName(): string {
    return substr(static::class, strrpos(static::class, '\\') + 1);
  }

  public static function permissions() {
    return [];
  }

}

class Result extends \ArrayObject {
}

abstract class AbstractAction {

  protected $_entityName;
  protected $_actionName;
  protected $checkPermissions = TRUE;

  public function __construct($entityName, $actionName) {
    $this->_entityName = $entityName;
    $this->_actionName = $actionName;
  }

  public function setCheckPermissions(bool $checkPermissions) {
    $this->checkPermissions = $checkPermissions;
    return $this;
  }

  public function getCheckPermissions(): bool {
    return $this->checkPermissions;
  }

  public function getEntityName() {
    return $this->_entityName;
  }

  public function getActionName() {
    return $this->_actionName;
  }

  /**
   * Magic getX()/setX() for parameters, as in civicrm-core.
   *
   * @return mixed
   */
  public function __call($name, $arguments) {
    $param = lcfirst(substr($name, 3));
    $mode = substr($name, 0, 3);
    if ($param !== '' && $param[0] !== '_' && in_array($mode, ['get', 'set'], TRUE) && $this->paramExists($param)) {
      if ($mode === 'get') {
        return $this->$param;
      }
      $this->$param = $arguments[0];
      return $this;
    }
    throw new \CRM_Core_Exception('Unknown api parameter: ' . $name);
  }

  public function paramExists(string $param): bool {
    if ($param === '' || $param[0] === '_') {
      return FALSE;
    }
    foreach ((new \ReflectionClass($this))->getProperties(\ReflectionProperty::IS_PROTECTED) as $property) {
      if ($property->getName() === $param) {
        return TRUE;
      }
    }
    return FALSE;
  }

  /**
   * Runs the action (CiviCRM's kernel would check permissions first; the tests that call this
   * are about what the action returns).
   */
  public function execute(): Result {
    $result = new Result();
    $this->_run($result);
    return $result;
  }

  abstract public function _run(Result $result);

  /**
   * The entity's fields for this action, by name (CiviCRM runs the entity's getFields).
   */
  public function entityFields(): array {
    $getFields = call_user_func(['Civi\\Api4\\' . $this->_entityName, 'getFields'], FALSE);
    return array_column($getFields->fieldList(), NULL, 'name');
  }

  public function getPermissions() {
    $permissions = call_user_func(['Civi\\Api4\\' . $this->_entityName, 'permissions']);
    $permissions += [
      'meta' => ['access CiviCRM'],
      'default' => ['administer CiviCRM'],
    ];
    $map = ['getActions' => 'meta', 'getFields' => 'meta', 'replace' => 'delete', 'save' => 'create'];
    $generic = $map[$this->_actionName] ?? 'default';
    return $permissions[$this->_actionName] ?? $permissions[$generic] ?? $permissions['default'];
  }

}

abstract class AbstractQueryAction extends AbstractAction {

  /**
   * @var array
   */
  protected $where = [];

  /**
   * @var array
   */
  protected $orderBy = [];

  /**
   * @var int
   */
  protected $limit = 0;

  /**
   * @var int
   */
  protected $offset = 0;

  public function addWhere(string $fieldName, string $op, $value = NULL) {
    $this->where[] = [$fieldName, $op, $value];
    return $this;
  }

  public function addOrderBy(string $fieldName, $direction = 'ASC') {
    $this->orderBy[$fieldName] = $direction;
    return $this;
  }

}

abstract class AbstractGetAction extends AbstractQueryAction {

  /**
   * @var array
   */
  protected $select = [];

  public function addSelect(string ...$fieldNames) {
    $this->select = array_merge($this->select, $fieldNames);
    return $this;
  }

}

class BasicGetAction extends AbstractGetAction {

  /**
   * @var callable|null
   */
  private $getter;

  public function __construct($entityName, $actionName, $getter = NULL) {
    parent::__construct($entityName, $actionName);
    $this->getter = $getter;
  }

  public function _run(Result $result) {
    $fields = $this->entityFields();
    if (in_array('*', $this->select, TRUE)) {
      $this->select = array_values(array_unique(array_merge(array_diff($this->select, ['*']), array_keys($fields))));
    }
    $records = [];
    foreach ($this->getRecords() as $record) {
      foreach ($fields as $name => $field) {
        $record += [$name => NULL];
        $record[$name] = self::convert($record[$name], $field['data_type'] ?? NULL);
      }
      $records[] = $record;
    }
    $records = array_values(array_filter($records, function (array $record): bool {
      return $this->matches($record, $this->where);
    }));
    if ($this->orderBy) {
      usort($records, function (array $a, array $b): int {
        foreach ($this->orderBy as $field => $direction) {
          $order = strnatcasecmp((string) $a[$field], (string) $b[$field]);
          if ($order !== 0) {
            return $direction === 'DESC' ? -$order : $order;
          }
        }
        return 0;
      });
    }
    if ($this->limit || $this->offset) {
      $records = array_slice($records, $this->offset, $this->limit ?: NULL);
    }
    if ($this->select) {
      $records = array_map(function (array $record): array {
        return array_intersect_key($record, array_flip($this->select));
      }, $records);
    }
    $result->exchangeArray($records);
  }

  protected function getRecords() {
    if (!is_callable($this->getter)) {
      throw new \LogicException('Getter function not found for api4 ' . $this->getEntityName() . '::' . $this->getActionName());
    }
    return call_user_func($this->getter, $this);
  }

  private static function convert($value, ?string $dataType) {
    if ($value === NULL || is_array($value)) {
      return $value;
    }
    switch ($dataType) {
      case 'Integer':
        return (int) $value;

      case 'Boolean':
        return (bool) $value;

      case 'Float':
        return (float) $value;

      default:
        return $value;
    }
  }

  /**
   * AND of the clauses; a clause is [field, op, value] or ['OR'|'AND'|'NOT', [clauses]].
   */
  private function matches(array $record, array $clauses): bool {
    foreach ($clauses as $clause) {
      if (in_array($clause[0], ['AND', 'OR', 'NOT'], TRUE) && is_array($clause[1])) {
        $results = array_map(function ($c) use ($record): bool {
          return $this->matches($record, [$c]);
        }, $clause[1]);
        $ok = $clause[0] === 'OR' ? in_array(TRUE, $results, TRUE) : !in_array(FALSE, $results, TRUE);
        if ($clause[0] === 'NOT') {
          $ok = !$ok;
        }
      }
      else {
        [$field, $op] = $clause;
        $expected = $clause[2] ?? NULL;
        $value = $record[$field] ?? NULL;
        switch ($op) {
          case '=':
            $ok = $value == $expected;
            break;

          case '!=':
          case '<>':
            $ok = $value != $expected;
            break;

          case '>':
            $ok = $value > $expected;
            break;

          case '>=':
            $ok = $value >= $expected;
            break;

          case '<':
            $ok = $value < $expected;
            break;

          case '<=':
            $ok = $value <= $expected;
            break;

          case 'IN':
            $ok = in_array($value, (array) $expected);
            break;

          case 'NOT IN':
            $ok = !in_array($value, (array) $expected);
            break;

          case 'LIKE':
            $ok = (bool) preg_match('/^' . str_replace('%', '.*', preg_quote((string) $expected, '/')) . '$/i', (string) $value);
            break;

          case 'IS NULL':
            $ok = $value === NULL;
            break;

          case 'IS NOT NULL':
            $ok = $value !== NULL;
            break;

          default:
            throw new \LogicException("The stand-in does not model the operator $op");
        }
      }
      if (!$ok) {
        return FALSE;
      }
    }
    return TRUE;
  }

}

class BasicGetFieldsAction extends BasicGetAction {

  public $getter;

  public function __construct($entityName, $actionName, $getter = NULL) {
    parent::__construct($entityName, $actionName, $getter);
    $this->getter = $getter;
  }

  /**
   * The field list as the entity declares it (CiviCRM pads each with defaults such as
   * type => 'Field').
   */
  public function fieldList(): array {
    return call_user_func($this->getter, $this);
  }

  public function entityFields(): array {
    return [];
  }

}
