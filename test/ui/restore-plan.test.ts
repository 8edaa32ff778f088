/** The restore dialog's pure parts: choices, params, the statement, run ids, the site check. */
import { expect } from '@open-wc/testing';
import { RUN_ID_PATTERN } from '../../ts-src/protocol/api.js';
import { ApiError } from '../../ts-src/ui/api/crm-api.js';
import { choiceProblems, defaultChoices, describePlan, newRunId, offersScope, restoreParams } from '../../ts-src/ui/restore-dialog/restore-plan.js';
import { isLoggedOut } from '../../ts-src/ui/restore-dialog/site-check.js';
import { sampleConfig, sampleSets, sampleWordPressSet } from './support/sample-data.js';

describe('restore plan', () => {
  it('run ids are PHP\'s format, in UTC, and differ', () => {
    const id = newRunId(new Date('2026-11-26T07:05:09.999Z'));
    expect(id).to.match(RUN_ID_PATTERN);
    expect(id.slice(0, 15)).to.equal('20261126-070509');
    expect(newRunId()).to.not.equal(newRunId());
  });

  it('a set without a database is restored by directory only, and cannot go into a new database', () => {
    const set = { ...sampleSets()[2], databases: [] };
    const choices = defaultChoices(set);
    expect(choices.database).to.equal(false);
    expect(offersScope(set)).to.equal(false);
    expect(choiceProblems(choices, set)).to.deep.equal(['Choose the database, a directory, or both.']);
    expect(choiceProblems({ ...choices, directories: ['custom'] }, set)).to.deep.equal([]);
    expect(choiceProblems({ ...choices, target: 'new-database', newDatabase: 'copy' }, set)).to.deep.equal(['This set holds no database.']);
  });

  it('sends the scope only with the database, and nothing of the live site with a new database', () => {
    const set = sampleWordPressSet();
    expect(restoreParams({ target: 'live', database: false, scope: 'all', directories: ['images'], newDatabase: '' }, set, set.setId)).to.deep.equal({
      setId: set.setId,
      database: false,
      directories: ['images'],
      confirm: set.setId,
      async: true,
    });
    expect(restoreParams({ target: 'new-database', database: true, scope: 'all', directories: ['images'], newDatabase: 'copy_1' }, set, 'typed')).to.deep.equal({
      setId: set.setId,
      newDatabase: 'copy_1',
      confirm: 'typed',
      async: true,
    });
  });

  it('the statement names the separate logging database and what the safety backup leaves out', () => {
    const set = sampleSets()[0]; // holds a logging database and custom and images
    const config = sampleConfig({ directories: sampleConfig().directories.map((d) => (d.key === 'images' ? { ...d, included: false } : d)) });
    const lines = describePlan({ target: 'live', database: true, scope: 'civicrm', directories: ['custom', 'images'], newDatabase: '' }, set, config);
    expect(lines.map((l) => l.id)).to.deep.equal(['database', 'logging', 'swap', 'directory-custom', 'directory-images', 'safety', 'safety-no-images', 'after']);
    expect(lines.find((l) => l.id === 'safety-no-images')!.caution).to.equal(true);
    expect(describePlan({ target: 'live', database: true, scope: 'civicrm', directories: [], newDatabase: '' }, set, { ...config, loggingDatabaseSeparate: false }).map((l) => l.id)).to.not.include('logging');
  });

  it('a refusal with HTTP 401 or 403 means logged out; other failures mean not back yet', () => {
    expect(isLoggedOut(new ApiError('Sorry an error occurred and your request was not completed.', '1', 'get', '', 403))).to.equal(true);
    expect(isLoggedOut(new ApiError('Unauthorized', 'HTTP_401', 'get', '', 401))).to.equal(true);
    expect(isLoggedOut(new ApiError('Internal Server Error', '1', 'get', '', 500))).to.equal(false);
    expect(isLoggedOut(new ApiError('Sorry an error occurred', '1', 'get'))).to.equal(false);
    expect(isLoggedOut(new ApiError('Authorization failed: CiviCRM APIv4 (Contact::get)', '0', 'get'))).to.equal(true);
    expect(isLoggedOut(new Error('NetworkError'))).to.equal(false);
  });
});
