/** End to end on a real WordPress 6.8 + CiviCRM 6.17 site (skipped without CIVIBACKUP_CIVICRM_ARCHIVE). */
import { siteScenario } from './support/scenario.js';

siteScenario('wordpress');
