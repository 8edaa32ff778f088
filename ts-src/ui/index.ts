/** Entry of the browser bundle: defines every custom element of the Backups page. */
import './app/define.js';
