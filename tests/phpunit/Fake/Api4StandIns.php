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

class BasicGetFieldsAction extends AbstractAction {

  public $getter;

  public function __construct($entityName, $actionName, $getter = NULL) {
    parent::__construct($entityName, $actionName);
    $this->getter = $getter;
  }

}
