//! Tracker options: named defaults, and every check in one place ([`TrackerOptions::build`]).

use serde::Deserialize;

use crate::error::ConfigError;
use crate::intake::{
    IntakePolicy, Redactor, DEFAULT_MAX_NODE_RUNS, DEFAULT_MAX_VALUE_BYTES, DEFAULT_PREVIEW_BYTES,
};
use crate::retention::{Retention, RetentionOption};
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
    /// The durable file store (Node; the default there).
    File,
}

/// `redact` is either `false` (no redaction, on purpose) or `{ keys?, defaults?, enabled? }`.
#[derive(Clone, Debug, PartialEq)]
pub enum RedactOption {
    /// `true` keeps the defaults; `false` turns redaction off.
    Switch(bool),
    /// Add keys, drop the default keys, or turn it off.
    Settings {
        /// Key fragments that mark secrets, added to the default list.
        keys: Option<Vec<String>>,
        /// False drops the default key list (only `keys` mark secrets); shapes are still
        /// masked. Default true.
        defaults: Option<bool>,
        /// False turns redaction off.
        enabled: Option<bool>,
    },
}

/// The object form of `redact`, strict about its keys (a misspelt `kes` must not leave the
/// user believing their keys are masked).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactSettings {
    keys: Option<Vec<String>>,
    defaults: Option<bool>,
    enabled: Option<bool>,
}

impl<'de> Deserialize<'de> for RedactOption {
    // By hand rather than `untagged`: an untagged enum would hide which key was wrong.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RedactVisitor;
        impl<'de> serde::de::Visitor<'de> for RedactVisitor {
            type Value = RedactOption;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or { keys, defaults, enabled }")
            }
            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<RedactOption, E> {
                Ok(RedactOption::Switch(on))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RedactOption, A::Error> {
                let settings =
                    RedactSettings::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RedactOption::Settings {
                    keys: settings.keys,
                    defaults: settings.defaults,
                    enabled: settings.enabled,
                })
            }
        }
        d.deserialize_any(RedactVisitor)
    }
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

/// Sync tuning: `sync: { maxBatchRecords, maxBatchBytes, debounceMs, timeoutMs, retry }`.
#[derive(Clone, Debug, PartialEq, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOption {
    /// Most records in one request.
    pub max_batch_records: Option<usize>,
    /// Most bytes of records in one request.
    pub max_batch_bytes: Option<usize>,
    /// Wait after a change before syncing, ms (changes in between share one request).
    pub debounce_ms: Option<u32>,
    /// A request that takes longer fails, ms.
    pub timeout_ms: Option<u32>,
    /// Backoff between failed attempts.
    pub retry: Option<RetryOption>,
    /// How long `close()` tries a last sync before it gives up, ms (0: no last sync).
    pub close_timeout_ms: Option<u32>,
}

/// Where else records go: `export: { otlp: URL }` sends them to an OpenTelemetry collector
/// as OTLP/HTTP JSON traces instead of to an ingest server (see `sync::otlp_export`).
#[derive(Clone, Debug, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExportOption {
    /// The collector's base URL (`http://collector:4318`; `/v1/traces` is appended unless
    /// given).
    pub otlp: Option<String>,
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
    /// Base URL of the ingest server (`https://host/prefix`); records go to
    /// `{endpoint}/v1/ingest`. Without it nothing is sent (records still queue up).
    pub endpoint: Option<String>,
    /// Sent as `Authorization: Bearer <apiKey>`.
    pub api_key: Option<String>,
    /// False keeps sync off (records queue up) until `tracker.setSyncEnabled(true)`.
    pub sync_enabled: Option<bool>,
    /// Sync tuning.
    pub sync: Option<SyncOption>,
    /// `{ otlp: URL }`: sync to an OpenTelemetry collector instead of an ingest server.
    pub export: Option<ExportOption>,
    /// `false`, or `{ maxAgeDays, maxCount, maxBytes }` (defaults 30 days, 50,000).
    pub retention: Option<RetentionOption>,
    /// Node: the folder of the file store (default `./.runledger`). Read by the Node entry.
    pub path: Option<String>,
    /// Node: how long to wait for a store another process holds, ms (default 0: fail at
    /// once). Read by the Node entry.
    pub lock_timeout_ms: Option<u32>,
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
    /// Sync settings.
    pub sync: SyncConfig,
    /// Retention limits.
    pub retention: Retention,
}

/// Most records in one ingest request, by default.
pub const DEFAULT_SYNC_BATCH_RECORDS: usize = 200;
/// Most bytes of records in one ingest request, by default (the server takes 8 MiB).
pub const DEFAULT_SYNC_BATCH_BYTES: usize = 1 << 20;
/// Wait after a change before syncing, by default.
pub const DEFAULT_SYNC_DEBOUNCE_MS: u32 = 1_000;
/// Ingest request timeout, by default.
pub const DEFAULT_SYNC_TIMEOUT_MS: u32 = 30_000;
/// How long `close()` tries a last sync, by default.
pub const DEFAULT_SYNC_CLOSE_TIMEOUT_MS: u32 = 3_000;
/// Backoff between failed sync attempts, by default: 1 s growing to 5 min.
pub const DEFAULT_SYNC_BACKOFF: Backoff = Backoff {
    base_ms: 1_000.0,
    cap_ms: 300_000.0,
};

/// Checked sync settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    /// Base URL, without a trailing slash; `None` means sync is not configured.
    pub endpoint: Option<String>,
    /// The API key.
    pub api_key: Option<String>,
    /// Whether sync starts enabled.
    pub enabled: bool,
    /// Records per request.
    pub max_batch_records: usize,
    /// Bytes of records per request.
    pub max_batch_bytes: usize,
    /// Debounce after changes, ms.
    pub debounce_ms: u32,
    /// Request timeout, ms.
    pub timeout_ms: u32,
    /// Backoff between failed attempts.
    pub backoff: Backoff,
    /// Time `close()` gives a last sync, ms (0: none).
    pub close_timeout_ms: u32,
    /// The endpoint is an OTLP collector's traces URL (`export: { otlp }`), not an ingest
    /// server: batches go as OTLP/HTTP JSON.
    pub otlp: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            endpoint: None,
            api_key: None,
            enabled: true,
            max_batch_records: DEFAULT_SYNC_BATCH_RECORDS,
            max_batch_bytes: DEFAULT_SYNC_BATCH_BYTES,
            debounce_ms: DEFAULT_SYNC_DEBOUNCE_MS,
            timeout_ms: DEFAULT_SYNC_TIMEOUT_MS,
            backoff: DEFAULT_SYNC_BACKOFF,
            close_timeout_ms: DEFAULT_SYNC_CLOSE_TIMEOUT_MS,
            otlp: false,
        }
    }
}

fn backoff_of(
    prefix: &str,
    retry: Option<RetryOption>,
    default: Backoff,
) -> Result<Backoff, ConfigError> {
    let retry = retry.unwrap_or_default();
    let backoff = Backoff {
        base_ms: in_range(
            &format!("{prefix}.baseMs"),
            retry.base_ms,
            default.base_ms,
            1.0,
            3_600_000.0,
        )?,
        cap_ms: in_range(
            &format!("{prefix}.capMs"),
            retry.cap_ms,
            default.cap_ms,
            1.0,
            86_400_000.0,
        )?,
    };
    if backoff.cap_ms < backoff.base_ms {
        return Err(bad(
            &format!("{prefix}.capMs"),
            format!("must be at least {prefix}.baseMs"),
        ));
    }
    Ok(backoff)
}

/// Checks an endpoint URL: http(s), no query or fragment, no credentials; the trailing slash
/// is dropped. A refused URL is quoted without anything that could be a secret.
fn endpoint_of(option: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = value else { return Ok(None) };
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(r));
    if let Some(at) = authority.and_then(|a| a.rfind('@')) {
        let scheme_end = trimmed.find("://").map_or(0, |i| i + 3);
        let shown = format!(
            "{}[credentials]{}",
            &trimmed[..scheme_end],
            crate::intake::scrub(&trimmed[scheme_end + at..])
        );
        return Err(bad(
            option,
            format!(
                "`{shown}` holds credentials (`user:password@`), which would travel and be shown in clear; give the key as `apiKey` and the URL without them"
            ),
        ));
    }
    match rest {
        Some(host) if !host.is_empty() && !trimmed.contains(['?', '#', ' ']) => {
            Ok(Some(trimmed.to_owned()))
        }
        _ => Err(bad(
            option,
            format!(
                "`{}` is not an http:// or https:// URL without query or fragment",
                crate::intake::scrub(&url)
            ),
        )),
    }
}

impl TrackerOptions {
    fn sync_config(&mut self) -> Result<SyncConfig, ConfigError> {
        let tuning = self.sync.take().unwrap_or_default();
        let d = SyncConfig::default();
        if self.api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err(bad("apiKey", "must not be empty"));
        }
        let otlp = endpoint_of("export.otlp", self.export.take().and_then(|e| e.otlp))?;
        let endpoint = endpoint_of("endpoint", self.endpoint.take())?;
        if otlp.is_some() && endpoint.is_some() {
            return Err(bad(
                "export.otlp",
                "cannot be combined with `endpoint` yet: a tracker syncs to one destination (an ingest server, or a collector); run runledger-server with --otlp-endpoint to have both",
            ));
        }
        Ok(SyncConfig {
            otlp: otlp.is_some(),
            endpoint: otlp
                .as_deref()
                .map(crate::sync::otlp_export::traces_url)
                .or(endpoint),
            api_key: self.api_key.take(),
            enabled: self.sync_enabled.unwrap_or(true),
            max_batch_records: in_range(
                "sync.maxBatchRecords",
                tuning.max_batch_records,
                d.max_batch_records,
                1,
                10_000,
            )?,
            max_batch_bytes: in_range(
                "sync.maxBatchBytes",
                tuning.max_batch_bytes,
                d.max_batch_bytes,
                1_024,
                64 << 20,
            )?,
            debounce_ms: in_range(
                "sync.debounceMs",
                tuning.debounce_ms,
                d.debounce_ms,
                0,
                3_600_000,
            )?,
            timeout_ms: in_range(
                "sync.timeoutMs",
                tuning.timeout_ms,
                d.timeout_ms,
                100,
                600_000,
            )?,
            backoff: backoff_of("sync.retry", tuning.retry, d.backoff)?,
            close_timeout_ms: in_range(
                "sync.closeTimeoutMs",
                tuning.close_timeout_ms,
                d.close_timeout_ms,
                0,
                600_000,
            )?,
        })
    }
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
    pub fn build(mut self) -> Result<Config, ConfigError> {
        let name = self.name.take().unwrap_or_else(|| DEFAULT_NAME.into());
        if name.trim().is_empty() || name.len() > 200 {
            return Err(bad("name", "must be 1 to 200 characters"));
        }
        let redactor = match self.redact.take() {
            None | Some(RedactOption::Switch(true)) => Redactor::default(),
            Some(RedactOption::Switch(false))
            | Some(RedactOption::Settings {
                enabled: Some(false),
                ..
            }) => Redactor::disabled(),
            Some(RedactOption::Settings { keys, defaults, .. }) => {
                let keys = keys.unwrap_or_default();
                if keys.iter().any(|k| k.trim().is_empty()) {
                    return Err(bad("redact.keys", "key fragments must not be empty"));
                }
                Redactor::with_keys(&keys, defaults.unwrap_or(true))
            }
        };
        let max_value_bytes = in_range(
            "maxValueBytes",
            self.max_value_bytes,
            DEFAULT_MAX_VALUE_BYTES,
            256,
            64 << 20,
        )?;
        let backoff = backoff_of("retry", self.retry.take(), Backoff::default())?;
        let sync = self.sync_config()?;
        let retention = Retention::from_option(self.retention.take());
        if retention.max_age_days == Some(0) {
            return Err(bad("retention.maxAgeDays", "must be at least 1"));
        }
        if retention.max_count == Some(0) {
            return Err(bad("retention.maxCount", "must be at least 1"));
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
            sync,
            retention,
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
    fn sync_options_are_checked_and_defaulted() {
        let parse = |v| serde_json::from_value::<TrackerOptions>(v).unwrap().build();
        let c = parse(json!({"endpoint": "http://127.0.0.1:8787/", "apiKey": "k"})).unwrap();
        assert_eq!(c.sync.endpoint.as_deref(), Some("http://127.0.0.1:8787"));
        assert_eq!(c.sync.api_key.as_deref(), Some("k"));
        assert!(c.sync.enabled);
        assert_eq!(c.sync.max_batch_records, DEFAULT_SYNC_BATCH_RECORDS);
        for (bad_value, option) in [
            (json!({"endpoint": "ftp://x"}), "endpoint"),
            (json!({"endpoint": "http://x?y=1"}), "endpoint"),
            (json!({"apiKey": " "}), "apiKey"),
            (
                json!({"sync": {"maxBatchRecords": 0}}),
                "sync.maxBatchRecords",
            ),
            (
                json!({"sync": {"retry": {"baseMs": 10, "capMs": 1}}}),
                "sync.retry.capMs",
            ),
        ] {
            assert_eq!(parse(bad_value).unwrap_err().option, option);
        }
        let err =
            serde_json::from_value::<TrackerOptions>(json!({"sync": {"batch": 1}})).unwrap_err();
        assert!(err.to_string().contains("unknown field `batch`"), "{err}");
    }

    #[test]
    fn the_otlp_export_option_points_sync_at_a_collector() {
        let parse = |v| serde_json::from_value::<TrackerOptions>(v).unwrap().build();
        let c = parse(json!({"export": {"otlp": "http://127.0.0.1:4318/"}})).unwrap();
        assert!(c.sync.otlp);
        assert_eq!(
            c.sync.endpoint.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert!(!parse(json!({"endpoint": "http://a"})).unwrap().sync.otlp);
        for (bad_value, option) in [
            (json!({"export": {"otlp": "ftp://x"}}), "export.otlp"),
            (
                json!({"export": {"otlp": "http://c"}, "endpoint": "http://a"}),
                "export.otlp",
            ),
        ] {
            assert_eq!(parse(bad_value).unwrap_err().option, option);
        }
        let err = serde_json::from_value::<TrackerOptions>(json!({"export": {"otel": "http://c"}}))
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `otel`"), "{err}");
    }

    #[test]
    fn an_endpoint_with_credentials_is_refused_without_showing_them() {
        for url in [
            "http://admin:PASS@127.0.0.1:8787",
            "https://admin:PASS@h/x/",
            "http://PASS@h",
            "http://h/?password=PASS",
        ] {
            let o: TrackerOptions = serde_json::from_value(json!({ "endpoint": url })).unwrap();
            let err = o.build().unwrap_err();
            assert_eq!(err.option, "endpoint");
            assert!(!err.to_string().contains("PASS"), "{err}");
        }
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
        // Added keys join the defaults (issue 14: a user adding `pin` kept losing `password`).
        assert!(
            c.intake.redactor.is_secret_key("PIN") && c.intake.redactor.is_secret_key("password")
        );
        let o: TrackerOptions =
            serde_json::from_value(json!({"redact": {"keys": ["pin"], "defaults": false}}))
                .unwrap();
        let c = o.build().unwrap();
        assert!(
            c.intake.redactor.is_secret_key("PIN") && !c.intake.redactor.is_secret_key("password")
        );
        // A misspelt key inside `redact` is refused, not ignored.
        let err = serde_json::from_value::<TrackerOptions>(json!({"redact": {"kes": ["pin"]}}))
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `kes`"), "{err}");
        let err = serde_json::from_value::<TrackerOptions>(json!({"redact": "yes"})).unwrap_err();
        assert!(err.to_string().contains("true, false or"), "{err}");
    }
}
