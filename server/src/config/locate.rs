//! Where a configuration error is: a line and column in the file, or the
//! `LOGDECK_*` environment variable that set the value.

use std::ops::Range;

use super::{ConfigError, EnvOverride};

/// Turns positions into errors: in the file (line and column) or in an
/// environment override (its variable).
pub(super) struct Locator<'a> {
    pub text: &'a str,
    pub source_name: &'a str,
    pub overrides: &'a [EnvOverride],
}

impl Locator<'_> {
    /// The position given to everything override `index` inserts: past the
    /// end of the file, so it can never be mistaken for a place in it.
    pub fn marker(&self, index: usize) -> usize {
        self.text.len() + 1 + index
    }

    pub fn error(
        &self,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: String,
    ) -> ConfigError {
        let offset = span.map_or(0, |s| s.start);
        if offset > self.text.len() {
            if let Some(over) = self.overrides.get(offset - self.text.len() - 1) {
                return ConfigError::Env {
                    var: over.var.clone(),
                    key,
                    message,
                };
            }
        }
        let (line, column) = line_and_column(self.text, offset);
        ConfigError::Invalid {
            source_name: self.source_name.to_owned(),
            line,
            column,
            key,
            message,
        }
    }
}

/// 1-based line and column of a byte offset.
pub(super) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}
