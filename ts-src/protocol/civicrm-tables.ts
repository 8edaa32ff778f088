/**
 * Which tables of a database CiviCRM owns, for a restore over a database CiviCRM shares with
 * its CMS (WordPress, Drupal, Backdrop, Joomla keep their own tables beside CiviCRM's): the
 * `civicrm` scope replaces only these, so the CMS's users and content are not rolled back.
 * Pure, so the page (which offers the scope only when a set holds other tables), the helper's
 * list and its restore judge a table the same way.
 */

/**
 * CiviCRM's own tables (`civicrm_*`, also extension tables named so) and their
 * detailed-logging copies (`log_civicrm_*`), in any letter case (a server with
 * lower_case_table_names=0 may hold names as CiviCRM wrote them on another).
 */
export const CIVICRM_TABLE_PATTERN = /^(?:log_)?civicrm_/i;

export function isCiviCrmTable(name: string): boolean {
  return CIVICRM_TABLE_PATTERN.test(name);
}

/** How many of these tables are not CiviCRM's (0: the scope makes no difference). */
export function countOtherTables(names: Iterable<string>): number {
  let other = 0;
  for (const name of names) if (!isCiviCrmTable(name)) other++;
  return other;
}
