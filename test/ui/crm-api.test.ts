import { expect } from '@open-wc/testing';
import { ApiError, BackupApi, describeError } from '../../ts-src/ui/api/crm-api.js';
import { FakeCrm } from './support/fake-crm.js';

describe('BackupApi errors', () => {
  it('reads the stable code and the hint out of a CiviBackup error that CiviCRM relayed', async () => {
    // CiviCRM's AJAX layer sends error_code 0 for string codes; the message carries them.
    const crm = new FakeCrm().on('delete', { reject: { error_code: 0, error_message: '[CONFIG] The newest complete set cannot be deleted.\nKeep it, or back up again first.' } });
    const api = new BackupApi(() => crm);
    const error = await api.delete({ setId: '20260102T030405Z-abcd' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ApiError);
    expect((error as ApiError).code).to.equal('CONFIG');
    expect((error as ApiError).message).to.equal('The newest complete set cannot be deleted.');
    expect((error as ApiError).hint).to.equal('Keep it, or back up again first.');
    expect(describeError(error)).to.equal('The newest complete set cannot be deleted. Keep it, or back up again first.');
  });

  it('keeps other rejections as they are', async () => {
    const crm = new FakeCrm().on('overview', { reject: { error_code: 'unauthorized', error_message: 'Permission denied' } });
    const error = (await new BackupApi(() => crm).overview().catch((e: unknown) => e)) as ApiError;
    expect(error.code).to.equal('unauthorized');
    expect(describeError(error)).to.equal('Permission denied');
  });

  it('keeps the HTTP status CiviCRM answered with (403: not allowed, or no longer logged in)', async () => {
    const crm = new FakeCrm().on('get', { reject: { error_code: '1', error_message: 'Sorry an error occurred and your request was not completed. (Error ID: x)', status: 403 } });
    const error = (await new BackupApi(() => crm).sets().catch((e: unknown) => e)) as ApiError;
    expect(error.httpStatus).to.equal(403);
    expect(error.code).to.equal('1');
  });
});
