/** Entry of the browser bundle: defines every custom element of the Backups page. */
import './app/define.js';
import './overview/define.js';
import './run-progress/define.js';
import './set-list/define.js';
import './set-detail/define.js';
import './restore-dialog/define.js';
import './settings-form/define.js';
