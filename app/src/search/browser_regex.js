// Regular-expression search in the browser, with the browser's own engine
// (the viewer's wasm carries no regex engine of its own). The server
// searches with the Rust `regex` crate; this module accepts the same
// everyday syntax and refuses what that crate does not have, so a search
// means the same thing in both places (the README lists the few
// differences).
//
// Rows are tested many at a time: joined by "\n" into one string, scanned
// once with a multi-line copy of the expression, and any row a match runs
// across (or that holds a "\n" of its own) tested alone.

/** Why a pattern is refused; the viewer shows the message. */
class Refused extends Error {}

/**
 * Compiles `pattern` (the server's syntax) for the browser. Returns the
 * compiled search, or throws an Error whose message says what is wrong.
 */
export function compileRegExp(pattern, caseInsensitive) {
  let source = pattern;
  const flags = new Set(caseInsensitive ? ['i'] : []);
  // Leading inline flags, `(?i)` and the like, become the expression's flags.
  const inline = /^\(\?([ims]+)\)/.exec(source);
  if (inline) {
    for (const flag of inline[1]) flags.add(flag);
    source = source.slice(inline[0].length);
  }
  source = translate(source);
  const base = [...flags].join('');
  let exact;
  let unicode = true;
  try {
    exact = new RegExp(source, base + 'u');
  } catch {
    // Stricter than the Rust syntax in places (`\-` outside a class, say):
    // without `u` the same pattern may be fine.
    unicode = false;
    exact = new RegExp(source, base);
  }
  const extra = unicode ? 'u' : '';
  return {
    exact,
    // Every match in one row.
    all: new RegExp(source, base + extra + 'g'),
    // Over rows joined by "\n": `^` and `$` at each row's ends.
    scan: new RegExp(source, base.replace('m', '') + extra + 'gm'),
    multiline: flags.has('m'),
  };
}

/**
 * The Rust syntax's spellings the browser lacks, rewritten; what the Rust
 * engine does not have (look-around, back-references) or what could make
 * the browser's backtracking engine take exponential time (a repetition
 * of an unbounded repetition, like `(a+)+`), refused.
 */
function translate(source) {
  let out = '';
  // Open groups: whether each holds a repetition so far.
  const groups = [];
  let inClass = false;
  let lastGroupRepeats = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    let closedGroup = false;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) throw new Refused('back-references (\\1) are not supported');
      if (!inClass && next === 'k' && source[i + 2] === '<') {
        throw new Refused('back-references (\\k<name>) are not supported');
      }
      // `\A` and `\z`: the start and end of the text (of the row).
      out += inClass ? c + next : next === 'A' ? '^' : next === 'z' ? '$' : c + next;
      i++;
    } else if (inClass) {
      if (c === '[' && source[i + 1] === ':') {
        const end = source.indexOf(':]', i + 2);
        const name = end < 0 ? '' : source.slice(i + 2, end);
        if (!(name in POSIX)) throw new Refused(`unknown class [:${name}:]`);
        out += POSIX[name];
        i = end + 1;
      } else {
        if (c === ']') inClass = false;
        out += c;
      }
    } else if (c === '[') {
      inClass = true;
      out += c;
      // `[]...]` and `[^]...]`: a leading `]` is a member.
      if (source[i + 1] === '^') out += source[++i];
      if (source[i + 1] === ']') out += source[++i];
    } else if (c === '(') {
      if (/^\(\?(=|!|<=|<!)/.test(source.slice(i))) {
        throw new Refused('look-around ((?=, (?!, (?<=, (?<!) is not supported');
      }
      groups.push(false);
      if (source.startsWith('(?P<', i)) {
        out += '(?<';
        i += 3;
      } else {
        out += c;
      }
    } else if (c === ')') {
      lastGroupRepeats = groups.pop() ?? false;
      closedGroup = true;
      out += c;
    } else {
      out += c;
    }
    const unbounded = !inClass && isUnbounded(source, i + 1);
    if (unbounded && groups.length > 0) groups[groups.length - 1] = true;
    if (closedGroup && unbounded && lastGroupRepeats) {
      throw new Refused('a repetition of a repetition (like (a+)+) is not searched in the browser: it can take exponential time');
    }
    if (closedGroup && groups.length > 0 && lastGroupRepeats) groups[groups.length - 1] = true;
  }
  return out;
}

/** Whether an unbounded quantifier (`*`, `+`, `{n,}`) starts at `i`. */
function isUnbounded(source, i) {
  const c = source[i];
  return c === '*' || c === '+' || (c === '{' && /^\{\d+,\}/.test(source.slice(i)));
}

/** The POSIX classes of the Rust syntax (ASCII), as class members. */
const POSIX = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Whether one row's text holds a match. */
export function testRow(search, text) {
  search.exact.lastIndex = 0;
  return search.exact.test(text);
}

/**
 * Which of many rows hold a match: `text` is the rows joined by "\n",
 * `ends[k]` where row k ends (its "\n", or the text's end), in UTF-16 code
 * units; `alone[k]` is 1 for a row that must be tested by itself (it holds
 * a "\n"). Returns a 0/1 per row.
 */
export function matchRows(search, text, ends, alone) {
  const n = ends.length;
  const found = new Uint8Array(n);
  // Tests the rows `mustTest` names by themselves, over what the scan found.
  const alonePass = (mustTest) => {
    for (let k = 0; k < n; k++) {
      if (!mustTest(k)) continue;
      const start = k === 0 ? 0 : ends[k - 1] + 1;
      found[k] = testRow(search, text.substring(start, ends[k])) ? 1 : 0;
    }
    return found;
  };
  // With `(?m)` a row's own `^` and `$` are not the joined text's: every
  // row is tested alone, with no scan first.
  if (search.multiline) return alonePass(() => true);
  const scan = search.scan;
  // Rows a match ran across, and rows that hold their own "\n" (where a
  // multi-line `^` or `$` would mean something else), are tested alone.
  const recheck = new Uint8Array(n);
  let row = 0;
  scan.lastIndex = 0;
  while (row < n) {
    const match = scan.exec(text);
    if (match === null) break;
    const start = match.index;
    const end = start + match[0].length;
    while (ends[row] < start) row++;
    if (end <= ends[row]) {
      found[row] = 1;
    } else {
      // Every row the match touches: a match inside one of them may have
      // been passed over.
      let last = row;
      while (last < n - 1 && ends[last] < end - 1) last++;
      for (let k = row; k <= last; k++) recheck[k] = 1;
      row = last;
    }
    // Each row needs one match at most: go on at the next row's start.
    row++;
    if (row < n) scan.lastIndex = ends[row - 1] + 1;
  }
  return alonePass((k) => recheck[k] || alone[k]);
}

/**
 * The matches in one row's text: start and end of each, in UTF-16 code
 * units, in order, empty matches left out.
 */
export function matchRanges(search, text) {
  const all = search.all;
  const ranges = [];
  all.lastIndex = 0;
  for (;;) {
    const match = all.exec(text);
    if (match === null) break;
    if (match[0].length === 0) {
      all.lastIndex = match.index + 1;
      if (all.lastIndex > text.length) break;
      continue;
    }
    ranges.push(match.index, match.index + match[0].length);
  }
  return Uint32Array.from(ranges);
}
