//! Regular expressions in the viewer, with the browser's engine:
//! `browser_regex.js` reads the server's syntax into a `RegExp` (refusing
//! what the server's engine does not have) and tests many rows in one
//! scan. Offsets cross between Rust's UTF-8 bytes and JavaScript's UTF-16
//! code units here.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;

use js_sys::JsString;
use wasm_bindgen::prelude::*;

use super::continuation;

#[wasm_bindgen(module = "/src/search/browser_regex.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = compileRegExp)]
    fn compile_regexp(pattern: &str, case_insensitive: bool) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = testRow)]
    fn test_row(search: &JsValue, text: &str) -> bool;
    #[wasm_bindgen(js_name = matchRows)]
    fn match_rows(search: &JsValue, text: &JsString, ends: &[u32], alone: &[u8]) -> Vec<u8>;
    #[wasm_bindgen(js_name = matchRanges)]
    fn match_ranges(search: &JsValue, text: &str) -> Vec<u32>;
}

/// A compiled regular expression (the JavaScript object `compileRegExp`
/// returns).
#[derive(Clone, Debug)]
pub struct Pattern(JsValue);

impl Pattern {
    pub fn new(text: &str, case_insensitive: bool) -> Result<Pattern, String> {
        compile_regexp(text, case_insensitive)
            .map(Pattern)
            .map_err(|error| {
                js_sys::Reflect::get(&error, &JsValue::from_str("message"))
                    .ok()
                    .and_then(|message| message.as_string())
                    .unwrap_or_else(|| "not a valid regular expression".to_owned())
            })
    }

    pub fn is_match(&self, text: &str) -> bool {
        test_row(&self.0, text)
    }

    /// Whether each of `rows` rows (`text(i)`) holds a match, in one scan
    /// over all of them joined by "\n" (one string handed to the browser
    /// instead of one per row). With the rows' serial numbers, the joined
    /// text of the last rows searched is kept, and the next search over
    /// rows that continue them (see [`continuation`]) copies only the rows
    /// it adds: building and copying the text is most of a search over
    /// many rows.
    pub fn matches_rows<'t>(
        &self,
        rows: usize,
        serials: Option<&[u64]>,
        text: impl Fn(usize) -> Cow<'t, str>,
    ) -> Vec<bool> {
        let Some(serials) = serials else {
            return self.scan(&Joined::new((0..rows).map(&text)));
        };
        LAST_ROWS.with_borrow_mut(|last| {
            let kept = last.take().and_then(|(old, joined)| {
                let (k, m) = continuation(&old, serials)?;
                Some(joined.continued(k, m, (m..rows).map(&text)))
            });
            let joined = kept.unwrap_or_else(|| Joined::new((0..rows).map(&text)));
            let found = self.scan(&joined);
            *last = Some((serials.to_vec(), joined));
            found
        })
    }

    fn scan(&self, joined: &Joined) -> Vec<bool> {
        if joined.ends.is_empty() {
            return Vec::new();
        }
        match_rows(&self.0, &joined.text, &joined.ends, &joined.alone)
            .into_iter()
            .map(|found| found == 1)
            .collect()
    }

    pub fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        let units = match_ranges(&self.0, text);
        let mut bytes = Utf16ToBytes::new(text);
        units
            .chunks_exact(2)
            .map(|pair| bytes.at(pair[0])..bytes.at(pair[1]))
            .collect()
    }
}

thread_local! {
    /// The last rows searched (their serial numbers) and their joined
    /// text.
    static LAST_ROWS: RefCell<Option<(Vec<u64>, Joined)>> = const { RefCell::new(None) };
}

pub fn forget_rows() {
    LAST_ROWS.with_borrow_mut(|last| *last = None);
}

/// Rows' texts as `matchRows` scans them: joined by "\n" into one
/// JavaScript string, where each row ends (in UTF-16 code units), and
/// which rows hold a "\n" of their own.
#[derive(Debug)]
struct Joined {
    text: JsString,
    ends: Vec<u32>,
    alone: Vec<u8>,
}

impl Joined {
    fn new<'t>(texts: impl Iterator<Item = Cow<'t, str>>) -> Joined {
        let mut joined = Joined {
            text: JsString::from(""),
            ends: Vec::new(),
            alone: Vec::new(),
        };
        joined.append(texts);
        joined
    }

    /// These rows' `m` rows from the `k`th on, followed by `texts`: the
    /// browser's string is cut (which copies nothing) and only `texts` is
    /// copied into it.
    fn continued<'t>(
        self,
        k: usize,
        m: usize,
        texts: impl Iterator<Item = Cow<'t, str>>,
    ) -> Joined {
        let start = if k == 0 { 0 } else { self.ends[k - 1] + 1 };
        let end = self.ends[k + m - 1];
        let mut joined = Joined {
            text: self.text.slice(start, end),
            ends: self.ends[k..k + m].iter().map(|e| e - start).collect(),
            alone: self.alone[k..k + m].to_vec(),
        };
        joined.append(texts);
        joined
    }

    /// Adds rows at the end.
    fn append<'t>(&mut self, texts: impl Iterator<Item = Cow<'t, str>>) {
        let mut added = String::new();
        for text in texts {
            let start = match self.ends.last().copied() {
                Some(end) => {
                    added.push('\n');
                    end + 1
                }
                None => 0,
            };
            added.push_str(&text);
            self.ends.push(start + utf16_len(&text));
            self.alone.push(u8::from(text.contains('\n')));
        }
        if !added.is_empty() {
            self.text = self.text.concat(&JsString::from(added.as_str()));
        }
    }
}

fn utf16_len(text: &str) -> u32 {
    let units = if text.is_ascii() {
        text.len()
    } else {
        text.chars().map(char::len_utf16).sum()
    };
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// Byte offsets of UTF-16 offsets, asked for in increasing order.
struct Utf16ToBytes<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    unit: u32,
    len: usize,
}

impl<'a> Utf16ToBytes<'a> {
    fn new(text: &'a str) -> Self {
        Utf16ToBytes {
            chars: text.char_indices().peekable(),
            unit: 0,
            len: text.len(),
        }
    }

    fn at(&mut self, unit: u32) -> usize {
        while let Some(&(byte, c)) = self.chars.peek() {
            if self.unit >= unit {
                return byte;
            }
            self.unit += u32::try_from(c.len_utf16()).unwrap_or(2);
            self.chars.next();
        }
        self.len
    }
}
