/** End to end on a real CiviCRM 6.17 Standalone site (skipped without CIVIBACKUP_CIVICRM_ARCHIVE). */
import { siteScenario } from './support/scenario.js';

siteScenario('standalone');
