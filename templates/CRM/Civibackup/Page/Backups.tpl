{* The Lit admin page (dist/ui/civibackup-ui.js, loaded by the civibackup ang module). *}
<div class="crm-container civibackup-page">
  <civibackup-app></civibackup-app>
  <noscript>{ts domain="civibackup"}The Backups page needs JavaScript.{/ts}</noscript>
</div>
