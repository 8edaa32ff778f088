<?php
declare(strict_types = 1);

use CRM_Civibackup_ExtensionUtil as E;

/**
 * Administer » System Settings » Backups. The page is one custom element; the Lit bundle and
 * its boot data (CRM.civibackup) come through the `civibackup` ang module (ang/civibackup.ang.php).
 */
class CRM_Civibackup_Page_Backups extends CRM_Core_Page {

  public function run() {
    CRM_Utils_System::setTitle(E::ts('Backups'));
    Civi::service('angularjs.loader')->addModules(['civibackup']);
    return parent::run();
  }

}
