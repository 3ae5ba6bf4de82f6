//! `LOGDECK_*` environment variables override configuration keys, so a
//! container can be configured without editing the file.
//!
//! `LOGDECK_<KEY>` sets a top-level key (`LOGDECK_NAME`, `LOGDECK_LOG_DIR`);
//! `__` separates nested keys (`LOGDECK_AUTH__TOKEN`), and
//! `LOGDECK_PROCESS__<name>__<KEY>` sets a key of the named process (the name
//! is matched ignoring case; an unknown name adds a process). Keys are case-
//! insensitive, except variable names under `env`. Values are TOML values when they parse as such (`true`,
//! `30`, `["a", "b"]`) and plain strings otherwise; keys that hold text
//! always take the value as text unless it starts with `[`.

use std::borrow::Cow;
use std::ops::Range;

use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

/// Variables the command line reads itself; they are not configuration keys.
const NOT_CONFIG: &[&str] = &["LOGDECK_CONFIG", "LOGDECK_ADDR", "LOGDECK_LOG"];

/// Short names for common settings.
const ALIASES: &[(&str, &str)] = &[
    ("LOGDECK_TOKEN", "LOGDECK_AUTH__TOKEN"),
    ("LOGDECK_CLUSTER_URL", "LOGDECK_CLUSTER__URL"),
    ("LOGDECK_CLUSTER_TOKEN", "LOGDECK_CLUSTER__TOKEN"),
];

/// Keys whose values are text; `true` or `42` given for them stays text.
const TEXT_KEYS: &[&str] = &[
    "name",
    "command",
    "cwd",
    "env_file",
    "restart",
    "stop_signal",
    "log_dir",
    "log_line",
    "http",
    "tcp",
    "token",
    "node",
    "url",
    "stream",
    "creds",
];

/// One `LOGDECK_*` variable that applies to the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvOverride {
    pub var: String,
    pub value: String,
}

/// The variables among `vars` that override configuration keys, in a
/// stable order (by name).
pub fn collect(vars: impl IntoIterator<Item = (String, String)>) -> Vec<EnvOverride> {
    let mut overrides: Vec<EnvOverride> = vars
        .into_iter()
        .filter(|(var, _)| var.starts_with("LOGDECK_") && !NOT_CONFIG.contains(&var.as_str()))
        .map(|(var, value)| EnvOverride { var, value })
        .collect();
    overrides.sort_by(|a, b| a.var.cmp(&b.var));
    overrides
}

/// Applies `over` to the parsed document. Everything it inserts carries the
/// span `marker..marker`, so errors about it can be traced back to the
/// variable.
pub fn apply<'i>(
    root: &mut DeTable<'i>,
    over: &'i EnvOverride,
    marker: usize,
) -> Result<(), String> {
    let var = ALIASES
        .iter()
        .find(|(alias, _)| *alias == over.var)
        .map_or(over.var.as_str(), |(_, full)| full);
    let path = var.strip_prefix("LOGDECK_").unwrap_or(var);
    let segments: Vec<&str> = path.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("malformed name: use `__` between keys".into());
    }
    let span = marker..marker;
    let (table, keys): (&mut DeTable<'i>, &[&str]) = if segments[0].eq_ignore_ascii_case("process")
    {
        let [_, name, keys @ ..] = segments.as_slice() else {
            return Err("expected LOGDECK_PROCESS__<name>__<KEY>".into());
        };
        if keys.is_empty() {
            return Err("expected LOGDECK_PROCESS__<name>__<KEY>".into());
        }
        if keys[0].eq_ignore_ascii_case("name") {
            return Err("a process cannot be renamed from the environment".into());
        }
        (process_table(root, name, span.clone())?, keys)
    } else {
        (root, segments.as_slice())
    };

    let (last, parents) = keys.split_last().expect("at least one key");
    let mut table = table;
    // Keys are case-insensitive, except the variable names inside `env`.
    let in_env = parents
        .last()
        .is_some_and(|p| p.eq_ignore_ascii_case("env"));
    for key in parents {
        let key = key.to_ascii_lowercase();
        let entry = table
            .entry(Spanned::new(span.clone(), Cow::Owned(key.clone())))
            .or_insert_with(|| Spanned::new(span.clone(), DeValue::Table(DeTable::new())));
        table = match entry.get_mut() {
            DeValue::Table(inner) => inner,
            _ => return Err(format!("`{key}` is not a table, so it has no keys to set")),
        };
    }
    let last = if in_env {
        (*last).to_owned()
    } else {
        last.to_ascii_lowercase()
    };
    let value = parse_value(&last, &over.value, span.clone());
    table.insert(Spanned::new(span, Cow::Owned(last)), value);
    Ok(())
}

/// The `[[process]]` table named `name` (ignoring case), added if missing.
fn process_table<'t, 'i>(
    root: &'t mut DeTable<'i>,
    name: &str,
    span: Range<usize>,
) -> Result<&'t mut DeTable<'i>, String> {
    let processes = root
        .entry(Spanned::new(span.clone(), Cow::Borrowed("process")))
        .or_insert_with(|| Spanned::new(span.clone(), DeValue::Array(DeArray::new())));
    let DeValue::Array(processes) = processes.get_mut() else {
        return Err("`process` is not an array of tables".into());
    };
    let position = processes.iter().position(|process| {
        process
            .get_ref()
            .get("name")
            .and_then(|n| n.get_ref().as_str())
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    });
    let index = match position {
        Some(index) => index,
        None => {
            let mut table = DeTable::new();
            table.insert(
                Spanned::new(span.clone(), Cow::Borrowed("name")),
                Spanned::new(span.clone(), DeValue::String(Cow::Owned(name.to_owned()))),
            );
            processes.push(Spanned::new(span, DeValue::Table(table)));
            processes.len() - 1
        }
    };
    match processes.as_mut()[index].get_mut() {
        DeValue::Table(table) => Ok(table),
        _ => Err("`process` entries must be tables".into()),
    }
}

fn parse_value<'i>(key: &str, text: &'i str, span: Range<usize>) -> Spanned<DeValue<'i>> {
    let as_text = || Spanned::new(span.clone(), DeValue::String(Cow::Borrowed(text)));
    if TEXT_KEYS.contains(&key) && !text.trim_start().starts_with('[') {
        return as_text();
    }
    match DeValue::parse(text) {
        Ok(value) => respan(value.into_inner(), &span),
        Err(_) => as_text(),
    }
}

/// Gives `value` and everything inside it the span `span`.
fn respan<'i>(value: DeValue<'i>, span: &Range<usize>) -> Spanned<DeValue<'i>> {
    let value = match value {
        DeValue::Array(items) => {
            let mut array = DeArray::new();
            for item in items.iter() {
                array.push(respan(item.get_ref().clone(), span));
            }
            DeValue::Array(array)
        }
        DeValue::Table(table) => DeValue::Table(
            table
                .into_iter()
                .map(|(k, v)| {
                    (
                        Spanned::new(span.clone(), k.into_inner()),
                        respan(v.into_inner(), span),
                    )
                })
                .collect(),
        ),
        other => other,
    };
    Spanned::new(span.clone(), value)
}
