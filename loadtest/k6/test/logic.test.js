// Unit tests of lib/logic.js (node --test test/).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_HOLES, Schedule, Stream, parsePayload, payload, planChats } from '../lib/logic.js';

test('schedule: steady rate is evenly spaced and ends on time', () => {
  const s = new Schedule(100, 0, 2);
  assert.equal(s.total(), 200);
  for (let n = 0; n < 200; n++) assert.ok(Math.abs(s.due(n) - n / 100) < 1e-9);
  assert.equal(s.due(200), null);
});

test('schedule: the ramp is monotone and reaches the rate', () => {
  const s = new Schedule(1000, 2, 5);
  assert.equal(s.total(), 4000);
  let prev = 0;
  for (let n = 0; n < s.total(); n++) {
    const d = s.due(n);
    assert.ok(d >= prev && d < 5);
    prev = d;
  }
  assert.ok(Math.abs(s.due(3501) - s.due(3500) - 0.001) < 1e-9);
  assert.ok(s.due(2) - s.due(1) > s.due(101) - s.due(100));
});

test('payload round trip', () => {
  const t = payload('r1', 1700000000123, 64);
  assert.equal(t.length, 64);
  assert.deepEqual(parsePayload(t), { run: 'r1', dueMs: 1700000000123 });
  assert.equal(parsePayload('hello'), null);
});

test('stream: in order, duplicates, late arrivals, missing', () => {
  const s = new Stream(10);
  assert.equal(s.onSeq(11), 'in_order');
  assert.equal(s.onSeq(11), 'duplicate');
  assert.equal(s.onSeq(10), 'duplicate');
  assert.equal(s.onSeq(14), 'skipped');
  assert.equal(s.onSeq(12), 'late');
  assert.equal(s.duplicated, 2);
  assert.equal(s.outOfOrder, 1);
  // 13 never came, nor 15 and 16.
  assert.equal(s.missing(16), 3);
  assert.equal(s.expected(16), 6);
  const big = new Stream(0);
  big.onSeq(100000);
  assert.equal(big.holes.size, MAX_HOLES);
  assert.equal(big.missing(100000), 99999);
});

test('chat layout: kinds evenly mixed, unique direct pairs, distinct members', () => {
  const specs = planChats(50, 100, 0.3, [5, 10], 1);
  assert.equal(specs.filter((s) => s.kind === 'direct').length, 30);
  const pairs = new Set();
  for (const s of specs) {
    assert.equal(new Set(s.members).size, s.members.length);
    if (s.kind === 'direct') {
      const [a, b] = s.members;
      const key = `${Math.min(a, b)}:${Math.max(a, b)}`;
      assert.ok(!pairs.has(key));
      pairs.add(key);
    }
  }
  assert.throws(() => planChats(3, 4, 1, [2], 1));
});
