/**
 * Retention golden files: golden/<case>.json = input + expected decisions. Run with
 * UPDATE_GOLDEN=1 to regenerate them from cases.ts after a deliberate change, then review the
 * diff. Invariants are checked on every case as well, so a wrong regeneration still fails.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { applyRetention, isoWeek, type RetentionDecision } from '../../../ts-src/protocol/retention-policy.js';
import { CASES, type RetentionCase } from './cases.js';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

interface GoldenFile {
  case: RetentionCase;
  expected: Array<Pick<RetentionDecision, 'id' | 'action' | 'reasons'>>;
}

function decide(c: RetentionCase): RetentionDecision[] {
  return applyRetention(c.sets, c.policy, new Date(c.now));
}

describe('retention golden files', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const file = join(GOLDEN, `${c.name}.json`);
      const actual = decide(c).map(({ id, action, reasons }) => ({ id, action, reasons }));
      if (update) writeFileSync(file, `${JSON.stringify({ case: c, expected: actual } satisfies GoldenFile, null, 2)}\n`);
      assert.ok(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1`);
      const golden = JSON.parse(readFileSync(file, 'utf8')) as GoldenFile;
      assert.deepEqual(golden.case, JSON.parse(JSON.stringify(c)), 'the case input changed: regenerate with UPDATE_GOLDEN=1 and review');
      assert.deepEqual(actual, golden.expected);
    });
  }

  test('every golden file has a case', () => {
    const names = new Set(CASES.map((c) => `${c.name}.json`));
    for (const file of readdirSync(GOLDEN)) assert.ok(names.has(file), `stale golden file ${file}`);
  });
});

describe('retention invariants on every case', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const now = Date.parse(c.now);
      const decisions = decide(c);
      const byId = new Map(decisions.map((d) => [d.id, d]));
      assert.equal(decisions.length, c.sets.length);
      for (const d of decisions) assert.ok(d.reasons.length > 0, `${d.id} has no reason`);
      const complete = c.sets.filter((s) => s.complete).sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
      const notFuture = complete.filter((s) => Date.parse(s.time) <= now + 5 * 60_000);
      if (notFuture[0]) assert.equal(byId.get(notFuture[0].id)?.action, 'keep', 'the newest complete set is kept');
      for (const s of notFuture.slice(1)) {
        if (s.verification === 'damaged') {
          assert.equal(byId.get(s.id)?.action, 'keep', `damaged ${s.id} is never removed by retention`);
          assert.ok(!byId.get(s.id)!.reasons.some((r) => /^(last|hourly|daily|weekly|monthly|yearly) /.test(r)), 'damaged sets are never counted');
        }
      }
      const restorable = notFuture.find((s) => s.verification === 'restorable');
      if (restorable) assert.equal(byId.get(restorable.id)?.action, 'keep', 'the newest restorable set is kept');
      for (const s of c.sets) {
        if (s.pinned) assert.equal(byId.get(s.id)?.action, 'keep', `pinned ${s.id} kept`);
        if (!s.complete && !s.pinned) {
          const old = now - Date.parse(s.time) >= 24 * 3600_000;
          assert.equal(byId.get(s.id)?.action, old ? 'remove' : 'keep', `incomplete ${s.id}`);
          assert.ok(!byId.get(s.id)!.reasons.some((r) => /^(last|hourly|daily|weekly|monthly|yearly) /.test(r)), 'incomplete sets are never counted');
        }
      }
      if (c.policy.keepLast) {
        const keptByLast = decisions.filter((d) => d.reasons.some((r) => r.startsWith('last '))).length;
        const usable = notFuture.filter((s) => s.verification !== 'damaged');
        assert.equal(keptByLast, Math.min(c.policy.keepLast, usable.length));
      }
    });
  }

  test('the input is not modified and the output is newest first', () => {
    const c = CASES[0]!;
    const before = JSON.stringify(c.sets);
    const decisions = decide(c);
    assert.equal(JSON.stringify(c.sets), before);
    for (let i = 1; i < decisions.length; i += 1) assert.ok(Date.parse(decisions[i - 1]!.time) >= Date.parse(decisions[i]!.time));
  });

  test('ISO weeks in UTC', () => {
    assert.equal(isoWeek(new Date('2026-12-31T23:59:59Z')), '2026-W53');
    assert.equal(isoWeek(new Date('2027-01-03T23:59:59Z')), '2026-W53');
    assert.equal(isoWeek(new Date('2027-01-04T00:00:00Z')), '2027-W01');
    assert.equal(isoWeek(new Date('2026-11-26T06:00:00Z')), '2026-W48');
  });
});
