// The browser's regex search (browser_regex.js), in Node: many rows at
// once must give exactly what testing each row alone gives, and the Rust
// syntax must be read as the server reads it. Run by `make unit`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { compileRegExp, matchRanges, matchRows, testRow } from './browser_regex.js';

/** matchRows over `rows`, as the viewer calls it. */
function rowsMatching(pattern, rows, caseInsensitive = false) {
  const search = compileRegExp(pattern, caseInsensitive);
  const ends = new Uint32Array(rows.length);
  const alone = new Uint8Array(rows.length);
  let at = 0;
  rows.forEach((row, k) => {
    at += row.length;
    ends[k] = at;
    at += 1;
    alone[k] = row.includes('\n') ? 1 : 0;
  });
  return Array.from(matchRows(search, rows.join('\n'), ends, alone));
}

function eachAlone(pattern, rows, caseInsensitive = false) {
  const search = compileRegExp(pattern, caseInsensitive);
  return rows.map((row) => (testRow(search, row) ? 1 : 0));
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const PATTERNS = [
  'a', 'ab', '^a', 'a$', '^$', '^', '$', 'x*', 'a|b', '\\s', '\\s+', '[^a]', '[^a]+', 'a\\sb',
  '\\bab\\b', '\\Bb', 'b.a', 'b.*a', '.', '', '(?s)a.b', '(?m)^b', '(?i)AB', '\\Aa', 'b\\z',
  'é', '[[:digit:]]+', '(?P<x>ab)', 'a{2,}', '\\d', 'a\nb', '[\\s\\S]{3}',
];
const ALPHABET = ['a', 'b', ' ', '\n', '1', 'é', '😀', 'A'];

test('many rows at once give what each row alone gives', () => {
  const next = random(7);
  for (let round = 0; round < 400; round++) {
    const rows = Array.from({ length: 1 + Math.floor(next() * 12) }, () =>
      Array.from({ length: Math.floor(next() * 7) }, () => ALPHABET[Math.floor(next() * ALPHABET.length)]).join(''),
    );
    for (const pattern of PATTERNS) {
      for (const caseInsensitive of [false, true]) {
        assert.deepEqual(
          rowsMatching(pattern, rows, caseInsensitive),
          eachAlone(pattern, rows, caseInsensitive),
          `${JSON.stringify(pattern)} over ${JSON.stringify(rows)} (round ${round})`,
        );
      }
    }
  }
});

test('bench-gen lines: one in ten matches seq=\\d*7 t=', () => {
  const rows = Array.from({ length: 1000 }, (_, i) => `INFO seq=${i} t=123 gen payload=xyz`);
  const found = rowsMatching(String.raw`seq=\d*7 t=`, rows);
  assert.equal(found.filter((f) => f === 1).length, 100);
  assert.equal(found[7], 1);
  assert.equal(found[8], 0);
});

test('the Rust spellings are understood', () => {
  assert.equal(testRow(compileRegExp('(?i)error', false), 'ERROR x'), true);
  assert.equal(testRow(compileRegExp('(?P<word>ab)c', false), 'abc'), true);
  assert.equal(testRow(compileRegExp('[[:digit:]]{3}', false), 'a123'), true);
  assert.equal(testRow(compileRegExp('[[:digit:]]{3}', false), 'a12b'), false);
  assert.equal(testRow(compileRegExp('\\Aab\\z', false), 'ab'), true);
  assert.equal(testRow(compileRegExp('\\Aab\\z', false), 'xab'), false);
  // Fine in Rust, an error in the browser's `u` mode: taken without it.
  assert.equal(testRow(compileRegExp('a\\-b', false), 'a-b'), true);
});

test('what the server refuses, or what could take exponential time, is refused', () => {
  for (const [pattern, why] of [
    ['(a)\\1', /back-references/],
    ['(?<n>a)\\k<n>', /back-references/],
    ['a(?=b)', /look-around/],
    ['a(?!b)', /look-around/],
    ['(?<=a)b', /look-around/],
    ['(?<!a)b', /look-around/],
    ['(a+)+$', /repetition of a repetition/],
    ['(\\w+\\s?)*x', /repetition of a repetition/],
    ['((ab)*c)+', /repetition of a repetition/],
    ['[[:nope:]]', /unknown class/],
    ['(unclosed', /./],
  ]) {
    assert.throws(() => compileRegExp(pattern, false), why, pattern);
  }
  // Bounded or single repetitions are fine.
  for (const pattern of ['(\\d{1,3}\\.){3}\\d{1,3}', '(foo|bar)+', '(ab)+', 'a+b*', '[(a+)]+', '\\(a+\\)+']) {
    assert.doesNotThrow(() => compileRegExp(pattern, false), pattern);
  }
});

test('ranges are UTF-16 offsets of the non-empty matches', () => {
  assert.deepEqual(Array.from(matchRanges(compileRegExp('b+', false), 'abbcb')), [1, 3, 4, 5]);
  assert.deepEqual(Array.from(matchRanges(compileRegExp('x*', false), 'axxb')), [1, 3]);
  assert.deepEqual(Array.from(matchRanges(compileRegExp('é', true), '😀É')), [2, 3]);
});
