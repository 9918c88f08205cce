//! Tracker options: named defaults, and every check in one place ([`TrackerOptions::build`]).

use serde::Deserialize;

use crate::error::ConfigError;
use crate::intake::{
    IntakePolicy, Redactor, DEFAULT_MAX_NODE_RUNS, DEFAULT_MAX_VALUE_BYTES, DEFAULT_PREVIEW_BYTES,
};
use crate::retry::Backoff;

/// Database name when none is given.
pub const DEFAULT_NAME: &str = "runledger";
/// How long recorded changes wait before a flush, in milliseconds.
pub const DEFAULT_FLUSH_INTERVAL_MS: u32 = 50;
/// How many changed executions make a flush start at once, and the most one write holds.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 500;

/// Where records are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// IndexedDB where it exists, memory otherwise (Node).
    #[default]
    Auto,
    /// IndexedDB, or an error where there is none.
    IndexedDb,
    /// Memory only: gone when the page or process ends.
    Memory,
}

/// `redact` is either `false` (no redaction, on purpose) or `{ keys?, enabled? }`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RedactOption {
    /// `true` keeps the defaults; `false` turns redaction off.
    Switch(bool),
    /// Replace the key list, or turn it off.
    Settings {
        /// Key fragments that mark secrets (replace the default list).
        #[serde(default)]
        keys: Option<Vec<String>>,
        /// False turns redaction off.
        #[serde(default)]
        enabled: Option<bool>,
    },
}

/// Retry timing for failed background writes.
#[derive(Clone, Debug, PartialEq, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryOption {
    /// First delay bound, ms.
    pub base_ms: Option<f64>,
    /// Largest delay bound, ms.
    pub cap_ms: Option<f64>,
}

/// What `Tracker.open(options)` takes. Unknown option names are rejected, so typos show.
#[derive(Clone, Debug, PartialEq, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackerOptions {
    /// The database name (one per editor or app).
    pub name: Option<String>,
    /// `auto`, `indexeddb` or `memory`.
    pub storage: Option<StorageKind>,
    /// Delay before recorded changes are flushed, ms.
    pub flush_interval_ms: Option<u32>,
    /// Changed executions that trigger an immediate flush; the most one write holds.
    pub max_batch_size: Option<usize>,
    /// Largest JSON size of one payload value before it is truncated.
    pub max_value_bytes: Option<usize>,
    /// Preview bytes kept in a truncation marker.
    pub preview_bytes: Option<usize>,
    /// Most node runs per execution.
    pub max_node_runs: Option<usize>,
    /// Redaction settings.
    pub redact: Option<RedactOption>,
    /// Retry timing.
    pub retry: Option<RetryOption>,
}

/// Checked options with every default filled in.
#[derive(Clone, Debug)]
pub struct Config {
    /// Database name.
    pub name: String,
    /// Storage choice.
    pub storage: StorageKind,
    /// Flush delay, ms.
    pub flush_interval_ms: u32,
    /// Batch size.
    pub max_batch_size: usize,
    /// Redaction, truncation and validation rules.
    pub intake: IntakePolicy,
    /// Retry timing.
    pub backoff: Backoff,
}

fn bad(option: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        option: option.into(),
        reason: reason.into(),
    }
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    option: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(bad(option, format!("{v} is outside {min}..={max}")));
    }
    Ok(v)
}

impl TrackerOptions {
    /// Checks the options and fills in defaults.
    pub fn build(self) -> Result<Config, ConfigError> {
        let name = self.name.unwrap_or_else(|| DEFAULT_NAME.into());
        if name.trim().is_empty() || name.len() > 200 {
            return Err(bad("name", "must be 1 to 200 characters"));
        }
        let redactor = match self.redact {
            None | Some(RedactOption::Switch(true)) => Redactor::default(),
            Some(RedactOption::Switch(false))
            | Some(RedactOption::Settings {
                enabled: Some(false),
                ..
            }) => Redactor::disabled(),
            Some(RedactOption::Settings {
                keys: Some(keys), ..
            }) => {
                if keys.iter().any(|k| k.trim().is_empty()) {
                    return Err(bad("redact.keys", "key fragments must not be empty"));
                }
                Redactor::new(keys.iter().map(String::as_str))
            }
            Some(RedactOption::Settings { keys: None, .. }) => Redactor::default(),
        };
        let max_value_bytes = in_range(
            "maxValueBytes",
            self.max_value_bytes,
            DEFAULT_MAX_VALUE_BYTES,
            256,
            64 << 20,
        )?;
        let retry = self.retry.unwrap_or_default();
        let backoff = Backoff {
            base_ms: in_range(
                "retry.baseMs",
                retry.base_ms,
                crate::retry::DEFAULT_BASE_MS,
                1.0,
                3_600_000.0,
            )?,
            cap_ms: in_range(
                "retry.capMs",
                retry.cap_ms,
                crate::retry::DEFAULT_CAP_MS,
                1.0,
                86_400_000.0,
            )?,
        };
        if backoff.cap_ms < backoff.base_ms {
            return Err(bad("retry.capMs", "must be at least retry.baseMs"));
        }
        Ok(Config {
            name,
            storage: self.storage.unwrap_or_default(),
            flush_interval_ms: in_range(
                "flushIntervalMs",
                self.flush_interval_ms,
                DEFAULT_FLUSH_INTERVAL_MS,
                0,
                60_000,
            )?,
            max_batch_size: in_range(
                "maxBatchSize",
                self.max_batch_size,
                DEFAULT_MAX_BATCH_SIZE,
                1,
                10_000,
            )?,
            intake: IntakePolicy {
                redactor,
                max_value_bytes,
                preview_bytes: in_range(
                    "previewBytes",
                    self.preview_bytes,
                    DEFAULT_PREVIEW_BYTES,
                    0,
                    max_value_bytes,
                )?,
                max_node_runs: in_range(
                    "maxNodeRuns",
                    self.max_node_runs,
                    DEFAULT_MAX_NODE_RUNS,
                    1,
                    1_000_000,
                )?,
            },
            backoff,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_filled_in() {
        let c = TrackerOptions::default().build().unwrap();
        assert_eq!(
            (c.name.as_str(), c.storage, c.max_batch_size),
            ("runledger", StorageKind::Auto, 500)
        );
        assert!(c.intake.redactor.is_secret_key("password"));
    }

    #[test]
    fn bad_values_name_the_option() {
        let o = TrackerOptions {
            max_batch_size: Some(0),
            ..Default::default()
        };
        assert_eq!(o.build().unwrap_err().option, "maxBatchSize");
        let o = TrackerOptions {
            retry: Some(RetryOption {
                base_ms: Some(10.0),
                cap_ms: Some(5.0),
            }),
            ..Default::default()
        };
        assert_eq!(o.build().unwrap_err().option, "retry.capMs");
    }

    #[test]
    fn unknown_options_and_redaction_switches() {
        let err =
            serde_json::from_value::<TrackerOptions>(json!({"flushIntervalMS": 5})).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `flushIntervalMS`"),
            "{err}"
        );
        let o: TrackerOptions = serde_json::from_value(json!({"redact": false})).unwrap();
        assert!(!o.build().unwrap().intake.redactor.is_secret_key("nothing"));
        let o: TrackerOptions =
            serde_json::from_value(json!({"redact": {"keys": ["pin"]}})).unwrap();
        let c = o.build().unwrap();
        assert!(
            c.intake.redactor.is_secret_key("PIN") && !c.intake.redactor.is_secret_key("password")
        );
    }
}
