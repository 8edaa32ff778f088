import { expect } from '@open-wc/testing';
import { fieldIdForPath, serverFieldErrors, splitList, validateConfig } from '../../ts-src/ui/settings-form/validation.js';
import { estimateRetainedSpace, previewRetention } from '../../ts-src/ui/settings-form/retention-preview.js';
import { sampleDedupSets, sampleSets } from './support/sample-data.js';
import { NOW, sampleConfig } from './support/sample-data.js';

describe('settings validation (pure)', () => {
  it('accepts the sample settings', () => {
    expect(validateConfig(sampleConfig())).to.deep.equal({});
  });

  it('mirrors the server: path expressions allowed, ".." refused, keep-last at least 1, S3 needs bucket and key', () => {
    expect(validateConfig(sampleConfig({ destination: '[civicrm.private]/civibackup' }))).to.deep.equal({});
    expect(validateConfig(sampleConfig({ destination: '/var/backups/../www' }))).to.have.property('destination');
    expect(validateConfig(sampleConfig({ destination: '' }))).to.have.property('destination');
    expect(validateConfig(sampleConfig({ retention: { keepDaily: 7 } }))).to.have.property('keepLast');
    expect(validateConfig(sampleConfig({ retention: { keepLast: 1, keepDaily: 1.5 } }))).to.have.property('keepDaily');
    const noBucket = sampleConfig();
    noBucket.offsite[0].options['bucket'] = '';
    noBucket.offsite[0].options['region'] = '';
    expect(Object.keys(validateConfig(noBucket))).to.deep.equal(['offsite-0-bucket']);
    const twice = sampleConfig();
    twice.offsite.push({ ...twice.offsite[0] });
    expect(validateConfig(twice)).to.have.property('offsite-1-name');
  });

  it('requires the database or a directory, and valid e-mail addresses and hours', () => {
    const empty = sampleConfig({ includeDatabase: false });
    empty.directories.forEach((d) => (d.included = false));
    expect(validateConfig(empty)).to.have.property('includeDatabase');
    expect(validateConfig(sampleConfig({ alertEmails: ['a@b.org', 'nope'] }))['alertEmails']).to.contain('nope');
    expect(validateConfig(sampleConfig({ maxAgeHours: 0 }))).to.have.property('maxAgeHours');
  });

  it('splits lists on lines (and commas for e-mail)', () => {
    expect(splitList(' a \n\n b ')).to.deep.equal(['a', 'b']);
    expect(splitList('a@x.org, b@x.org\nc@x.org', true)).to.deep.equal(['a@x.org', 'b@x.org', 'c@x.org']);
  });

  it('reads the per-field problems out of the server\'s CONFIG message', () => {
    const message =
      'Not saved. destination: Use an absolute path (/...) or a path expression such as [civicrm.private]/civibackup.; recipients.0: "age1x" is not an age public key (age1...).; retention.keepLast: Keep at least the last set.; offsite.1.options.bucket: Required.; offsite.0.secret: Enter the secret (it is stored encrypted and never shown again).; schedule.frequency: Choose Hourly, Daily, Weekly or Monthly.';
    expect(serverFieldErrors(message)).to.deep.equal({
      destination: 'Use an absolute path (/...) or a path expression such as [civicrm.private]/civibackup.',
      recipients: '"age1x" is not an age public key (age1...).',
      keepLast: 'Keep at least the last set.',
      'offsite-1-bucket': 'Required.',
      'offsite-0-secret': 'Enter the secret (it is stored encrypted and never shown again).',
      frequency: 'Choose Hourly, Daily, Weekly or Monthly.',
    });
    expect(serverFieldErrors('Sorry an error occurred and your request was not completed. (Error ID: ab12)')).to.deep.equal({});
    expect(fieldIdForPath('alertEmails.3')).to.equal('alertEmails');
    expect(fieldIdForPath('schedule.active')).to.equal('scheduleActive');
  });
});

describe('retention preview (the helper\'s own policy)', () => {
  it('keep-last 3 + daily 7 + weekly 4 + monthly 12 on daily backups', () => {
    const preview = previewRetention({ keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 }, 'Daily', NOW);
    expect(preview.keepsEverything).to.equal(false);
    expect(preview.simulated).to.equal(730);
    // 7 days + 3 more weeks + 11 more months (the newest month is already kept as a day): 21.
    expect(preview.kept.length).to.be.within(20, 22);
    expect(preview.reachDays).to.be.within(330, 366);
    expect(preview.kept[0].reasons).to.include('newest complete set');
  });

  it('no rule keeps everything', () => {
    const preview = previewRetention({}, 'Weekly', NOW);
    expect(preview.keepsEverything).to.equal(true);
    expect(preview.kept.length).to.equal(preview.simulated);
  });
});

describe('retention space estimate (real sizes)', () => {
  it('deduplicated sets: the newest set\'s referenced bytes plus the median added bytes for each further kept set, leaving out the first run', () => {
    const estimate = estimateRetainedSpace(sampleDedupSets(), 14)!;
    expect(estimate.deduplicated).to.equal(true);
    // Added 9, 11, 10 MB after a 650 MB first run: median 10 MB.
    expect(estimate.perSetBytes).to.equal(10_000_000);
    expect(estimate.bytes).to.equal(700_000_000 + 13 * 10_000_000);
  });

  it('full-copy (0.1.0) sets each cost their size', () => {
    const sets = sampleSets();
    const estimate = estimateRetainedSpace(sets, 10)!;
    expect(estimate.deduplicated).to.equal(false);
    // The median of the recent sets' sizes.
    expect(estimate.perSetBytes).to.equal(sets[1].bytes);
    expect(estimate.bytes).to.equal(sets[1].bytes * 10);
  });

  it('says nothing without sets to go by', () => {
    expect(estimateRetainedSpace([], 7)).to.equal(null);
  });
});
