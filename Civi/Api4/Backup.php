<?php
declare(strict_types = 1);

namespace Civi\Api4;

/**
 * Backups of this CiviCRM site: run, watch, list, verify, delete and restore backup sets,
 * see what changed in CiviCRM's code between sets, and edit the CiviBackup configuration.
 * The contract with the page is ts-src/protocol/api.ts. Every action needs
 * `administer backups` or `administer CiviCRM system`.
 *
 * @searchable none
 * @since 0.1
 * @package Civi\Api4
 */
class Backup extends Generic\AbstractEntity {

  /**
   * Nested array = OR (AbstractAction::getPermissions). 'meta' covers getFields/getActions.
   */
  public const REQUIRED_PERMISSION = [['administer backups', 'administer CiviCRM system']];

  public static function permissions(): array {
    return [
      'meta' => self::REQUIRED_PERMISSION,
      'default' => self::REQUIRED_PERMISSION,
    ];
  }

  /**
   * @param bool $checkPermissions
   * @return Generic\BasicGetFieldsAction
   */
  public static function getFields($checkPermissions = TRUE) {
    return (new Generic\BasicGetFieldsAction(static::getEntityName(), __FUNCTION__, function () {
      return [
        ['name' => 'setId', 'title' => 'Set ID', 'data_type' => 'String', 'description' => 'Directory name of the backup set.'],
        ['name' => 'location', 'title' => 'Location', 'data_type' => 'String'],
        ['name' => 'createdAt', 'title' => 'Started', 'data_type' => 'Timestamp'],
        ['name' => 'finishedAt', 'title' => 'Finished', 'data_type' => 'Timestamp'],
        ['name' => 'bytes', 'title' => 'Size (bytes)', 'data_type' => 'Integer'],
        ['name' => 'parts', 'title' => 'Parts', 'data_type' => 'Integer'],
        // Undeclared fields are dropped by BasicGetAction: without these the page never knew a
        // set was deduplicated (no added bytes, no code changes).
        ['name' => 'format', 'title' => 'Format', 'data_type' => 'Integer', 'description' => 'Set format: 2 (deduplicated pieces) or 1 (a directory of parts, as 0.1.0 wrote); empty means 1.'],
        ['name' => 'addedBytes', 'title' => 'Added (bytes)', 'data_type' => 'Integer', 'description' => 'Format 2: bytes the set added to the destination when it was written. Format 1: its size.'],
        ['name' => 'referencedBytes', 'title' => 'Referenced (bytes)', 'data_type' => 'Integer', 'description' => 'Format 2: bytes of every stored piece the set needs (what a restore reads). Format 1: its size.'],
        ['name' => 'encrypted', 'title' => 'Encrypted', 'data_type' => 'Boolean'],
        ['name' => 'databases', 'title' => 'Databases', 'data_type' => 'Array', 'description' => 'Per database: role (main, logging), name, tables, rows, and otherTables (tables that are not CiviCRM\'s, such as a CMS\'s sharing the database).'],
        ['name' => 'directories', 'title' => 'Directories', 'data_type' => 'Array'],
        ['name' => 'verification', 'title' => 'Verification', 'data_type' => 'Array'],
        ['name' => 'source', 'title' => 'Source', 'data_type' => 'String', 'description' => 'Source identity of the set (its source id, or host name and database); retention only counts and removes sets of its own source. Empty for a set that records none.'],
        ['name' => 'thisSite', 'title' => 'This site', 'data_type' => 'Boolean', 'description' => 'Whether the set is this site\'s (its source is this site\'s source name, or host name and database).'],
        ['name' => 'trigger', 'title' => 'Trigger', 'data_type' => 'String', 'description' => 'Who started the run that wrote the set: cron, page, api, cli, or safety-before-restore (the backup a restore takes first).'],
      ];
    }))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Run
   */
  public static function run($checkPermissions = TRUE) {
    return (new Action\Backup\Run(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Status
   */
  public static function status($checkPermissions = TRUE) {
    return (new Action\Backup\Status(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Cancel
   */
  public static function cancel($checkPermissions = TRUE) {
    return (new Action\Backup\Cancel(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Get
   */
  public static function get($checkPermissions = TRUE) {
    return (new Action\Backup\Get(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\CodeChanges
   */
  public static function codeChanges($checkPermissions = TRUE) {
    return (new Action\Backup\CodeChanges(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Verify
   */
  public static function verify($checkPermissions = TRUE) {
    return (new Action\Backup\Verify(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Delete
   */
  public static function delete($checkPermissions = TRUE) {
    return (new Action\Backup\Delete(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Restore
   */
  public static function restore($checkPermissions = TRUE) {
    return (new Action\Backup\Restore(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\Overview
   */
  public static function overview($checkPermissions = TRUE) {
    return (new Action\Backup\Overview(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\GetConfig
   */
  public static function getConfig($checkPermissions = TRUE) {
    return (new Action\Backup\GetConfig(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\SaveConfig
   */
  public static function saveConfig($checkPermissions = TRUE) {
    return (new Action\Backup\SaveConfig(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

  /**
   * @param bool $checkPermissions
   * @return Action\Backup\TestDestination
   */
  public static function testDestination($checkPermissions = TRUE) {
    return (new Action\Backup\TestDestination(static::getEntityName(), __FUNCTION__))->setCheckPermissions($checkPermissions);
  }

}
