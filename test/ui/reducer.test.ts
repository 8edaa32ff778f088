import { expect } from '@open-wc/testing';
import { parseEventLine, type HelperEvent } from '../../ts-src/protocol/events.js';
import { INITIAL_RUN_STATE, reduceRunEvent, reduceRunEvents } from '../../ts-src/ui/run-progress/reducer.js';
import { sampleRunEnd, sampleRunError, sampleRunEvents } from './support/sample-data.js';

async function loadNdjson(name: string): Promise<HelperEvent[]> {
  const response = await fetch(new URL(`./fixtures/${name}`, import.meta.url));
  expect(response.ok, `fixture ${name} is served`).to.equal(true);
  const text = await response.text();
  return text
    .split('\n')
    .map(parseEventLine)
    .filter((e): e is HelperEvent => e !== null);
}

describe('run-progress reducer (pure)', () => {
  it('follows phase, item, rows, bytes, throughput, ETA and percent', () => {
    const state = reduceRunEvents(INITIAL_RUN_STATE, sampleRunEvents());
    expect(state.command).to.equal('backup');
    expect(state.set).to.equal('20261126T070000Z-abcd12');
    expect(state.phase).to.equal('data');
    expect(state.phases).to.deep.equal(['prepare', 'data']);
    expect(state.item).to.equal('civicrm_activity');
    expect(state.rows).to.equal(12000);
    expect(state.bytes).to.equal(50_000_000);
    expect(state.bytesTotal).to.equal(100_000_000);
    // 50 MB in 5 s since the phase event at 07:00:01 -> 10 MB/s, 50 MB left -> 5 s.
    expect(state.throughput).to.equal(10_000_000);
    expect(state.etaSeconds).to.equal(5);
    expect(state.percent).to.equal(50);
    expect(state.warnings).to.deep.equal([{ code: 'TABLE_SKIPPED', message: 'civicrm_cache: data skipped (cache table)', item: 'civicrm_cache' }]);
    expect(state.outcome).to.equal(null);
  });

  it('resets per-phase figures on a new phase and ends with the result', () => {
    const state = reduceRunEvents(INITIAL_RUN_STATE, [...sampleRunEvents(), ...sampleRunEnd()]);
    expect(state.phases).to.deep.equal(['prepare', 'data', 'files']);
    expect(state.outcome).to.deep.equal({ kind: 'done', set: '/var/backups/civicrm/20261126T070000Z-abcd12', summary: { bytes: 734_003_200, parts: 212 } });
    expect(state.percent).to.equal(100);
  });

  it('falls back to items for the percent when no byte total is known, and to null when nothing is known', () => {
    const base = { v: 1 as const, runId: 'r', time: '2026-11-26T07:00:00Z' };
    let s = reduceRunEvent(INITIAL_RUN_STATE, { ...base, seq: 1, type: 'phase', phase: 'files', totalItems: 4 });
    s = reduceRunEvent(s, { ...base, seq: 2, type: 'progress', phase: 'files', item: 'custom', bytes: 10, itemsDone: 1, itemsTotal: 4 });
    expect(s.percent).to.equal(25);
    expect(s.etaSeconds).to.equal(null);
    const unknown = reduceRunEvent(INITIAL_RUN_STATE, { ...base, seq: 1, type: 'progress', phase: 'schema', item: 'x', bytes: 0 });
    expect(unknown.percent).to.equal(null);
  });

  it('ignores repeated and older events, so overlapping polls are harmless', () => {
    const events = sampleRunEvents();
    const once = reduceRunEvents(INITIAL_RUN_STATE, events);
    const twice = reduceRunEvents(once, events);
    expect(twice).to.equal(once);
    const shuffled = reduceRunEvents(INITIAL_RUN_STATE, [...events].reverse());
    expect(shuffled).to.deep.equal(once);
  });

  it('keeps the error outcome with code, message, hint and retryable; later events change nothing', () => {
    const failed = reduceRunEvents(INITIAL_RUN_STATE, [...sampleRunEvents(), sampleRunError()]);
    expect(failed.outcome).to.deep.include({ kind: 'error', code: 'DISK_FULL', retryable: false });
    expect(failed.outcome && failed.outcome.kind === 'error' && failed.outcome.hint).to.match(/free space/);
    const after = reduceRunEvent(failed, { ...sampleRunEnd()[1], seq: 99 });
    expect(after).to.equal(failed);
  });

  it('does not modify its input state', () => {
    const frozen = Object.freeze({ ...INITIAL_RUN_STATE, phases: Object.freeze([]) as unknown as [] });
    expect(() => reduceRunEvents(frozen, sampleRunEvents())).not.to.throw();
  });

  describe('on NDJSON recorded from a real helper run', () => {
    it('a successful backup ends done, with every phase seen and the set named', async () => {
      const events = await loadNdjson('backup-run.ndjson');
      expect(events.length).to.be.greaterThan(3);
      const state = reduceRunEvents(INITIAL_RUN_STATE, events);
      expect(state.command).to.equal('backup');
      expect(state.outcome?.kind).to.equal('done');
      expect(state.phases).to.include('data');
      expect(state.phases).to.include('manifest');
      expect(state.lastSeq).to.equal(events[events.length - 1].seq);
      // Replaying the same lines in two halves (two polls) gives the same state.
      const half = Math.floor(events.length / 2);
      const polled = reduceRunEvents(reduceRunEvents(INITIAL_RUN_STATE, events.slice(0, half)), events.slice(half - 1));
      expect(polled).to.deep.equal(state);
    });

    it('a deep verify ends done with the restorable state in its summary', async () => {
      const events = await loadNdjson('verify-deep.ndjson');
      const state = reduceRunEvents(INITIAL_RUN_STATE, events);
      expect(state.command).to.equal('verify');
      expect(state.phases).to.include.members(['verify', 'restore']);
      expect(state.outcome?.kind).to.equal('done');
      if (state.outcome?.kind === 'done') expect(state.outcome.summary['state']).to.equal('restorable');
    });

    it('a verify of a damaged set keeps the warning and ends in SET_DAMAGED', async () => {
      const events = await loadNdjson('verify-damaged.ndjson');
      const state = reduceRunEvents(INITIAL_RUN_STATE, events);
      expect(state.warnings.map((w) => w.code)).to.deep.equal(['PART_DAMAGED']);
      expect(state.outcome).to.deep.include({ kind: 'error', code: 'SET_DAMAGED', retryable: false });
    });

    it('a failed backup ends in an error with a stable code and a hint', async () => {
      const events = await loadNdjson('backup-failed.ndjson');
      const state = reduceRunEvents(INITIAL_RUN_STATE, events);
      expect(state.outcome?.kind).to.equal('error');
      if (state.outcome?.kind !== 'error') return;
      expect(state.outcome.code).to.match(/^[A-Z_]+$/);
      expect(state.outcome.message).to.not.equal('');
      expect(state.outcome.hint).to.not.equal('');
    });
  });
});
