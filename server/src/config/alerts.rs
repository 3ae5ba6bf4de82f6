//! `[[notifier]]`, `[[alert]]`, `public_url` and `[metrics]`: their shape
//! as written and their checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use app::Level;
use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::duration::ConfigDuration;
use super::locate::Locator;
use super::raw::OneOrMany;
use super::ConfigError;

/// A window shorter than this could not be told from noise (and the
/// rules are looked at once a second).
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
const DEFAULT_WITHIN: Duration = Duration::from_secs(60);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5 * 60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifier {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub url: Spanned<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    pub timeout: Option<Spanned<ConfigDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    pub name: Spanned<String>,
    pub when: Spanned<RawWhen>,
    #[serde(default)]
    pub notify: Vec<Spanned<String>>,
    pub cooldown: Option<Spanned<ConfigDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWhen {
    pub process: Option<Spanned<OneOrMany>>,
    pub level: Option<Spanned<String>>,
    #[serde(rename = "match")]
    pub pattern: Option<Spanned<String>>,
    pub count: Option<Spanned<u32>>,
    pub within: Option<Spanned<ConfigDuration>>,
    pub event: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub enabled: Option<bool>,
    pub token: Option<Spanned<String>>,
}

/// Where notifications go.
#[derive(Clone)]
pub struct Notifier {
    pub name: String,
    pub kind: NotifierKind,
    /// May hold a secret (Slack's and Discord's URLs do): never logged.
    pub url: String,
    /// Extra request headers (`webhook` only).
    pub headers: Vec<(String, String)>,
    /// How long one delivery attempt may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field(
                "headers",
                &self.headers.iter().map(|h| &h.0).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifierKind {
    /// A JSON POST of the notification (docs/alerts.md).
    Webhook,
    Slack,
    Discord,
    Ntfy,
}

impl NotifierKind {
    pub const ALL: [NotifierKind; 4] = [
        NotifierKind::Webhook,
        NotifierKind::Slack,
        NotifierKind::Discord,
        NotifierKind::Ntfy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Webhook => "webhook",
            NotifierKind::Slack => "slack",
            NotifierKind::Discord => "discord",
            NotifierKind::Ntfy => "ntfy",
        }
    }
}

/// One `[[alert]]`.
#[derive(Clone, Debug)]
pub struct AlertRule {
    pub name: String,
    pub trigger: Trigger,
    /// Matches needed within `within` for the rule to fire.
    pub count: u32,
    /// The window matches are counted in; a firing rule that sees no
    /// firing condition for this long is resolved.
    pub within: Duration,
    /// Notifications of a firing rule are at least this far apart.
    pub cooldown: Duration,
    /// Indices into the notifiers; empty: shown in the viewer only.
    pub notify: Vec<usize>,
}

/// What a rule watches.
#[derive(Clone, Debug)]
pub enum Trigger {
    Lines {
        /// `None`: every process (`*`, or no `process`).
        processes: Option<BTreeSet<String>>,
        /// At least this level.
        level: Option<Level>,
        /// A regex the line (without colours) must match.
        pattern: Option<Regex>,
    },
    Event {
        event: EventKind,
        processes: Option<BTreeSet<String>>,
    },
}

/// A supervisor's (or a cluster's) state change a rule can watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Ended by itself (any exit code) and not restarted.
    Exited,
    /// Ended with a non-zero exit code or a signal.
    Crashed,
    /// Waiting to be restarted.
    Backoff,
    /// Given up: restarted too often, could not start, a dependency failed.
    Failed,
    /// Was ready, is not any more.
    NotReady,
    /// A node of the cluster stopped reporting.
    NodeOffline,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Exited,
        EventKind::Crashed,
        EventKind::Backoff,
        EventKind::Failed,
        EventKind::NotReady,
        EventKind::NodeOffline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Exited => "exited",
            EventKind::Crashed => "crashed",
            EventKind::Backoff => "backoff",
            EventKind::Failed => "failed",
            EventKind::NotReady => "not_ready",
            EventKind::NodeOffline => "node_offline",
        }
    }
}

/// Alerts and their notifiers.
#[derive(Clone, Debug, Default)]
pub struct AlertsConfig {
    pub notifiers: Vec<Notifier>,
    pub rules: Vec<AlertRule>,
}

/// Replaces each `${NAME}` in `text` with what `lookup` gives for it.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without its `}`".into());
        };
        let name = &after[..end];
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`${{{name}}}` is not an environment variable's name"
            ));
        }
        let value =
            lookup(name).ok_or_else(|| format!("the environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn from_env(text: &str) -> Result<String, String> {
    expand_env(text, |name| std::env::var(name).ok())
}

/// A notifier's or rule's name: trimmed, not empty.
fn name_of(
    raw: &Spanned<String>,
    key: Option<String>,
    locate: &Locator<'_>,
) -> Result<String, ConfigError> {
    let name = raw.get_ref().trim();
    if name.is_empty() {
        return Err(locate.error(Some(raw.span()), key, "must not be empty".into()));
    }
    Ok(name.to_owned())
}

pub(super) fn validate_alerts(
    notifiers: Vec<RawNotifier>,
    alerts: Vec<RawAlert>,
    process_names: &BTreeSet<String>,
    locate: &Locator<'_>,
) -> Result<AlertsConfig, ConfigError> {
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut checked = Vec::new();
    for (i, raw) in notifiers.into_iter().enumerate() {
        let key = |field: &str| Some(format!("notifier[{i}].{field}"));
        let name = name_of(&raw.name, key("name"), locate)?;
        if let Some(first) = index_of.insert(name.clone(), i) {
            return Err(locate.error(
                Some(raw.name.span()),
                key("name"),
                format!("duplicate notifier name `{name}` (also notifier[{first}])"),
            ));
        }
        let kind = NotifierKind::ALL
            .into_iter()
            .find(|k| k.as_str() == raw.kind.get_ref())
            .ok_or_else(|| {
                locate.error(
                    Some(raw.kind.span()),
                    key("kind"),
                    format!(
                        "unknown kind `{}` (webhook, slack, discord or ntfy)",
                        raw.kind.get_ref()
                    ),
                )
            })?;
        let url = from_env(raw.url.get_ref())
            .map_err(|m| locate.error(Some(raw.url.span()), key("url"), m))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(locate.error(
                Some(raw.url.span()),
                key("url"),
                "must be an http:// or https:// URL".into(),
            ));
        }
        if kind != NotifierKind::Webhook && !raw.headers.is_empty() {
            return Err(locate.error(
                Some(raw.kind.span()),
                key("headers"),
                format!(
                    "headers are for kind = \"webhook\" only (this is {})",
                    kind.as_str()
                ),
            ));
        }
        let mut headers = Vec::new();
        for (header, value) in raw.headers {
            let span = value.span();
            let value = from_env(value.get_ref()).map_err(|m| {
                locate.error(Some(span.clone()), key(&format!("headers.{header}")), m)
            })?;
            let valid = axum::http::HeaderName::try_from(header.as_str()).is_ok()
                && axum::http::HeaderValue::try_from(value.as_str()).is_ok();
            if !valid {
                return Err(locate.error(
                    Some(span),
                    key(&format!("headers.{header}")),
                    "not a valid HTTP header".into(),
                ));
            }
            headers.push((header, value));
        }
        let timeout = match raw.timeout {
            Some(t) if t.get_ref().0 < Duration::from_millis(100) => {
                return Err(locate.error(
                    Some(t.span()),
                    key("timeout"),
                    "must be at least 100ms".into(),
                ))
            }
            Some(t) => t.into_inner().0,
            None => DEFAULT_TIMEOUT,
        };
        checked.push(Notifier {
            name,
            kind,
            url,
            headers,
            timeout,
        });
    }

    let mut names = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, raw) in alerts.into_iter().enumerate() {
        let key = |field: &str| Some(format!("alert[{i}].{field}"));
        let name = name_of(&raw.name, key("name"), locate)?;
        if !names.insert(name.clone()) {
            return Err(locate.error(
                Some(raw.name.span()),
                key("name"),
                format!("duplicate alert name `{name}`"),
            ));
        }
        let when_span = raw.when.span();
        let when = raw.when.into_inner();
        let processes = match when.process {
            None => None,
            Some(list) => {
                let span = list.span();
                let list = list.into_inner().into_vec();
                if list.iter().any(|p| p == "*") {
                    None
                } else {
                    for process in &list {
                        if !process_names.contains(process) {
                            return Err(locate.error(
                                Some(span),
                                key("when.process"),
                                format!(
                                    "no process named `{process}` (or use \"*\" for every process)"
                                ),
                            ));
                        }
                    }
                    Some(list.into_iter().collect())
                }
            }
        };
        let within = match when.within {
            Some(w) if w.get_ref().0 < MIN_WINDOW => {
                return Err(locate.error(
                    Some(w.span()),
                    key("when.within"),
                    "the window is too short: at least 1s".into(),
                ))
            }
            Some(w) => w.into_inner().0,
            None => DEFAULT_WITHIN,
        };
        let count = match when.count {
            Some(c) if *c.get_ref() == 0 => {
                return Err(locate.error(
                    Some(c.span()),
                    key("when.count"),
                    "must be at least 1".into(),
                ))
            }
            Some(c) => c.into_inner(),
            None => 1,
        };
        let trigger = match when.event {
            Some(event) => {
                if when.level.is_some() || when.pattern.is_some() {
                    return Err(locate.error(
                        Some(event.span()),
                        key("when.event"),
                        "an event rule has no `level` or `match` (those are for lines)".into(),
                    ));
                }
                let kind = EventKind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == event.get_ref())
                    .ok_or_else(|| {
                        locate.error(
                            Some(event.span()),
                            key("when.event"),
                            format!(
                                "unknown event `{}` (exited, crashed, backoff, failed, not_ready or node_offline)",
                                event.get_ref()
                            ),
                        )
                    })?;
                Trigger::Event {
                    event: kind,
                    processes,
                }
            }
            None => {
                let level = match when.level {
                    Some(level) => Some(level.get_ref().parse::<Level>().map_err(|_| {
                        locate.error(
                            Some(level.span()),
                            key("when.level"),
                            format!(
                                "unknown level `{}` (DEBUG, INFO, WARNING, ERROR or CRITICAL)",
                                level.get_ref()
                            ),
                        )
                    })?),
                    None => None,
                };
                let pattern = match when.pattern {
                    Some(pattern) => Some(Regex::new(pattern.get_ref()).map_err(|e| {
                        locate.error(
                            Some(pattern.span()),
                            key("when.match"),
                            format!("invalid regex: {e}"),
                        )
                    })?),
                    None => None,
                };
                if processes.is_none() && level.is_none() && pattern.is_none() {
                    return Err(locate.error(
                        Some(when_span),
                        key("when"),
                        "say what to watch: `event`, or any of `process`, `level` and `match`"
                            .into(),
                    ));
                }
                Trigger::Lines {
                    processes,
                    level,
                    pattern,
                }
            }
        };
        let mut notify = Vec::new();
        for target in &raw.notify {
            let index = index_of.get(target.get_ref().as_str()).ok_or_else(|| {
                locate.error(
                    Some(target.span()),
                    key("notify"),
                    format!("no notifier named `{}`", target.get_ref()),
                )
            })?;
            notify.push(*index);
        }
        let cooldown = raw.cooldown.map_or(DEFAULT_COOLDOWN, |c| c.into_inner().0);
        rules.push(AlertRule {
            name,
            trigger,
            count,
            within,
            cooldown,
            notify,
        });
    }
    Ok(AlertsConfig {
        notifiers: checked,
        rules,
    })
}

/// `public_url`: where people open the viewer, for links in
/// notifications.
pub(super) fn validate_public_url(
    raw: Option<Spanned<String>>,
    locate: &Locator<'_>,
) -> Result<Option<String>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let url = raw.get_ref().trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(['?', '#']) {
        return Err(locate.error(
            Some(raw.span()),
            Some("public_url".into()),
            "must be an http:// or https:// URL without a query, such as https://logs.example.com"
                .into(),
        ));
    }
    Ok(Some(url))
}

/// `[metrics]`: whether `/metrics` is served (and lines counted for it),
/// and its own token.
pub(super) fn validate_metrics(
    raw: RawMetrics,
    locate: &Locator<'_>,
) -> Result<(bool, Option<String>), ConfigError> {
    let enabled = raw.enabled.unwrap_or(true);
    let Some(token) = raw.token else {
        return Ok((enabled, None));
    };
    let key = Some("metrics.token".to_owned());
    if !enabled {
        return Err(locate.error(
            Some(token.span()),
            key,
            "is set but metrics.enabled is false: remove one".into(),
        ));
    }
    let value =
        from_env(token.get_ref()).map_err(|m| locate.error(Some(token.span()), key.clone(), m))?;
    if value.len() < 16 {
        return Err(locate.error(
            Some(token.span()),
            key,
            "must be at least 16 characters".into(),
        ));
    }
    Ok((true, Some(value)))
}

#[cfg(test)]
mod tests {
    use super::expand_env;

    #[test]
    fn variables_are_expanded_and_missing_ones_named() {
        let lookup = |name: &str| (name == "HOOK_TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(
            expand_env("Bearer ${HOOK_TOKEN}", lookup).as_deref(),
            Ok("Bearer s3cret")
        );
        assert_eq!(
            expand_env("plain $HOME", lookup).as_deref(),
            Ok("plain $HOME")
        );
        let missing = expand_env("${NOPE}", lookup).expect_err("unset");
        assert!(missing.contains("NOPE is not set"), "{missing}");
        assert!(expand_env("${1X}", lookup).is_err());
        assert!(expand_env("${OPEN", lookup).is_err());
    }
}
