//! The batch step: replays a journal captured in JS (js/capture/journal.js) into the
//! [`Recorder`], once per batch instead of once per recording call.
//!
//! ```text
//!  JS calls ─► journal (JS, no wasm) ─► one JSON text per batch ─► apply_batch ─► Recorder
//! ```
//!
//! The JS side already checked the lifecycle and the arguments at the call, so an entry that
//! fails here is a bug or a value that changed between the call and the batch (values are
//! read at the end of the task). Such an entry is reported and the rest of the batch still
//! applies: one bad entry never costs the others their records.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, SyncError, ValidationError};
use crate::intake::{decode_with, Payload};
use crate::model::time::Millis;
use crate::model::{ErrorInfo, NodeDef, NodeOutcome, Output, Status};
use crate::recorder::{Recorder, StartSpec};
use crate::sync::RecordSizes;

/// One journal entry. Short keys: the batch text is built per call on the caller's thread.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry<'a> {
    /// The operation: `start`, `node`, `end`, `output`, `ext`, `finish`.
    o: &'a str,
    /// When the call happened (ms since the epoch).
    t: Millis,
    /// The execution id (borrowed from the batch text unless it holds an escape).
    #[serde(borrow)]
    r: std::borrow::Cow<'a, str>,
    /// The node run index (`node`, `end`).
    #[serde(default)]
    i: Option<usize>,
    /// A word: the outcome (`end`), the status (`finish`), the system (`ext`).
    #[serde(default)]
    k: Option<&'a str>,
    /// A structural argument: the spec, the node definition, the output, the error.
    #[serde(default, borrow)]
    d: Option<&'a RawValue>,
    /// A payload (node input, node output): JSON text kept as it is unless it needs work.
    #[serde(default, borrow)]
    v: Option<&'a RawValue>,
}

/// What went wrong with one entry of a batch.
#[derive(Debug)]
pub struct EntryFailure {
    /// Position of the entry in the batch.
    pub position: usize,
    /// The operation.
    pub op: String,
    /// The execution it was for.
    pub run_id: String,
    /// Why it was not applied.
    pub error: Error,
}

/// The result of one batch: how many entries applied, those that did not, and the records
/// that grew too large to sync.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Entries applied.
    pub applied: usize,
    /// Entries refused, each with its reason.
    pub failures: Vec<EntryFailure>,
    /// Records larger than the ingest server accepts (src/sync/record_size.rs), each
    /// reported once, when the batch that made it so was applied.
    pub too_large: Vec<SyncError>,
}

fn decode_raw<'de, T: Deserialize<'de>>(
    what: &str,
    raw: Option<&'de RawValue>,
) -> Result<T, Error> {
    let text = raw.map_or("{}", |r| if r.get() == "null" { "{}" } else { r.get() });
    decode_with(what, text).map_err(Error::from)
}

fn payload(raw: Option<&RawValue>) -> Payload {
    // Copied once from the batch text, never parsed again (serde checked it as JSON).
    raw.map_or_else(Payload::default, |r| Payload::Raw(r.to_owned()))
}

fn error_info(what: &str, raw: Option<&RawValue>) -> Result<Option<ErrorInfo>, Error> {
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => decode_raw(what, Some(r)).map(Some),
    }
}

/// Applies a journal batch (a JSON array of entries) to `recorder`. A text that is not a
/// batch at all is an error; an entry that cannot apply is listed in the report. With
/// `sizes` (the tracker syncs), every record the batch changes is watched for size.
pub fn apply_batch(
    recorder: &mut Recorder,
    text: &str,
    mut random: impl FnMut() -> [u8; 10],
    mut sizes: Option<&mut RecordSizes>,
) -> Result<BatchReport, Error> {
    let entries: Vec<Entry<'_>> = decode_with("batch", text)?;
    let mut report = BatchReport::default();
    for (position, entry) in entries.into_iter().enumerate() {
        match apply_entry(recorder, &entry, &mut random) {
            Ok(()) => {
                report.applied += 1;
                if let Some(sizes) = sizes.as_deref_mut() {
                    watch_size(recorder, sizes, &entry, &mut report.too_large);
                }
            }
            Err(error) => report.failures.push(EntryFailure {
                position,
                op: entry.o.to_owned(),
                run_id: entry.r.to_string(),
                error,
            }),
        }
    }
    Ok(report)
}

/// Counts what `entry` added to its record; measures the record exactly when its estimate
/// says it may be near the limit (and once more when it finishes that large).
fn watch_size(
    recorder: &Recorder,
    sizes: &mut RecordSizes,
    entry: &Entry<'_>,
    too_large: &mut Vec<SyncError>,
) {
    let id = entry.r.as_ref();
    let added = entry.d.map_or(0, |d| d.get().len()) + entry.v.map_or(0, |v| v.get().len());
    let measure = sizes.grow(id, added, entry.o == "node");
    if entry.o == "finish" {
        if sizes.finish(id) {
            let flagged = recorder
                .live(id)
                .and_then(|e| crate::sync::flag_too_large(e, sizes.limit()));
            too_large.extend(flagged);
        }
    } else if measure {
        if let Some(error) = recorder.live(id).and_then(|e| sizes.measured(e)) {
            too_large.push(error);
        }
    }
}

fn apply_entry(
    recorder: &mut Recorder,
    entry: &Entry<'_>,
    random: &mut impl FnMut() -> [u8; 10],
) -> Result<(), Error> {
    let (id, at) = (entry.r.as_ref(), entry.t);
    match entry.o {
        "start" => {
            let mut spec: StartSpec = decode_raw("spec", entry.d)?;
            spec.id = Some(entry.r.to_string());
            recorder.start(spec, at, random())?;
        }
        "node" => {
            let def: NodeDef = decode_raw("node", entry.d)?;
            let index = recorder.node_start(id, def, payload(entry.v), at)?;
            if entry.i.is_some_and(|i| i != index) {
                return Err(ValidationError::invalid(
                    "index",
                    format!(
                        "the journal expected node run {:?}, the core made {index}",
                        entry.i
                    ),
                )
                .into());
            }
        }
        "end" => {
            let index = entry.i.unwrap_or(usize::MAX);
            match entry.k.unwrap_or_default() {
                "success" => recorder.node_succeed(id, index, payload(entry.v), at)?,
                "error" => {
                    let error = error_info("error", entry.d)?.unwrap_or_default();
                    recorder.node_finish(id, index, NodeOutcome::Error(error), at)?
                }
                "skipped" => {
                    let reason: Option<String> = match entry.d {
                        Some(r) => decode_with("reason", r.get())?,
                        None => None,
                    };
                    recorder.node_finish(id, index, NodeOutcome::Skipped(reason), at)?
                }
                other => {
                    return Err(ValidationError::invalid(
                        "outcome",
                        format!("`{other}` is not success, error or skipped"),
                    )
                    .into())
                }
            }
        }
        "output" => {
            let output: Output = decode_raw("output", entry.d)?;
            recorder.add_output(id, output)?;
        }
        "ext" => {
            let external: String = decode_raw("externalId", entry.d)?;
            recorder.set_external_id(id, entry.k.unwrap_or_default(), &external)?;
        }
        "finish" => {
            let status = entry
                .k
                .and_then(Status::parse)
                .filter(|s| !matches!(s, Status::Running | Status::Interrupted))
                .ok_or_else(|| ValidationError::invalid("status", "not a final status"))?;
            let error = error_info("error", entry.d)?;
            recorder.finish(id, status, error, at)?;
        }
        other => {
            return Err(ValidationError::invalid(
                "op",
                format!("`{other}` is not a journal operation"),
            )
            .into())
        }
    }
    Ok(())
}

/// Checks a structural argument at the call, exactly as the batch step will apply it, on a
/// scratch recorder (so the caller gets the core's own typed error, with its field path,
/// before the call returns). `what` is `spec`, `node`, `output`, `error`, `reason` or
/// `externalId` (with `system`).
pub fn check_argument(
    policy: &crate::intake::IntakePolicy,
    what: &str,
    text: &str,
    system: Option<&str>,
) -> Result<(), Error> {
    let raw: Box<RawValue> = RawValue::from_string(text.to_owned())
        .map_err(|e| ValidationError::invalid(what, e.to_string()))?;
    let now: Millis = 1_700_000_000_000;
    match what {
        "spec" => {
            let mut spec: StartSpec = decode_raw("spec", Some(&raw))?;
            spec.id = Some(spec.id.unwrap_or_else(|| "check".into()));
            Recorder::new(policy.clone(), "check").start(spec, now, [0; 10])?;
        }
        "node" => {
            let def: NodeDef = decode_raw("node", Some(&raw))?;
            crate::intake::validate_id("node.id", &def.id)?;
        }
        "output" => {
            let output: Output = decode_raw("output", Some(&raw))?;
            crate::intake::validate_output("output", &output)?;
        }
        "error" => {
            if let Some(error) = error_info("error", Some(&raw))? {
                if let Some(node_id) = error.node_id.as_deref() {
                    crate::intake::validate_id("error.nodeId", node_id)?;
                }
            }
        }
        "reason" => {
            let _: Option<String> = decode_with("reason", raw.get())?;
        }
        "externalId" => {
            crate::intake::validate_id("system", system.unwrap_or_default())?;
            let external: String = decode_raw("externalId", Some(&raw))?;
            crate::intake::validate_id("externalId", &external)?;
        }
        other => {
            return Err(
                ValidationError::invalid("what", format!("`{other}` is not checked here")).into(),
            )
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::IntakePolicy;

    const T0: Millis = 1_700_000_000_000;

    fn recorder() -> Recorder {
        Recorder::new(IntakePolicy::default(), "owner")
    }

    #[test]
    fn a_batch_replays_a_whole_execution_in_order() {
        let mut r = recorder();
        let text = format!(
            r#"[{{"o":"start","t":{T0},"r":"e1","d":{{"workflowId":"w"}}}},
               {{"o":"node","t":{},"r":"e1","i":0,"d":{{"id":"a"}},"v":{{"rows":1}}}},
               {{"o":"end","t":{},"r":"e1","i":0,"k":"success","v":[1,2]}},
               {{"o":"node","t":{},"r":"e1","i":1,"d":{{"id":"b"}}}},
               {{"o":"end","t":{},"r":"e1","i":1,"k":"error","d":{{"message":"m"}}}},
               {{"o":"output","t":{},"r":"e1","d":{{"name":"out"}}}},
               {{"o":"ext","t":{},"r":"e1","k":"airflow","d":"run-7"}},
               {{"o":"finish","t":{},"r":"e1","k":"failed","d":{{"message":"bad"}}}}]"#,
            T0 + 1,
            T0 + 2,
            T0 + 3,
            T0 + 4,
            T0 + 5,
            T0 + 6,
            T0 + 7
        );
        let report = apply_batch(&mut r, &text, || [7; 10], None).unwrap();
        assert_eq!(report.applied, 8, "{:?}", report.failures);
        let e = r.live("e1").unwrap();
        assert_eq!(e.status, Status::Failed);
        assert_eq!(e.started_at, T0);
        assert_eq!(e.completed_at, Some(T0 + 7));
        assert_eq!(e.nodes.len(), 2);
        assert_eq!(e.nodes[0].output.text(), "[1,2]");
        assert_eq!(e.nodes[1].error.as_ref().unwrap().message, "m");
        assert_eq!(e.outputs[0].name, "out");
        assert_eq!(e.external_ids["airflow"], "run-7");
    }

    #[test]
    fn a_bad_entry_is_reported_and_the_others_still_apply() {
        let mut r = recorder();
        let text = format!(
            r#"[{{"o":"start","t":{T0},"r":"e1"}},
               {{"o":"node","t":{T0},"r":"nope","i":0,"d":{{"id":"a"}}}},
               {{"o":"finish","t":{T0},"r":"e1","k":"running"}},
               {{"o":"finish","t":{T0},"r":"e1","k":"success"}}]"#
        );
        let report = apply_batch(&mut r, &text, || [7; 10], None).unwrap();
        assert_eq!(report.applied, 2);
        let positions: Vec<usize> = report.failures.iter().map(|f| f.position).collect();
        assert_eq!(positions, [1, 2]);
        assert!(matches!(report.failures[0].error, Error::Lifecycle(_)));
        assert_eq!(r.live("e1").unwrap().status, Status::Success);
    }

    #[test]
    fn a_record_growing_past_the_sync_limit_is_flagged_once_by_the_batch_step() {
        let mut r = recorder();
        let mut sizes = RecordSizes::new(200_000);
        let blob = "x".repeat(30_000);
        let node = |i: usize| {
            format!(
                r#"{{"o":"node","t":{T0},"r":"big","i":{i},"d":{{"id":"n{i}"}},"v":{{"b":"{blob}"}}}},{{"o":"end","t":{T0},"r":"big","i":{i},"k":"success"}}"#
            )
        };
        let first = format!(
            r#"[{{"o":"start","t":{T0},"r":"big"}},{{"o":"start","t":{T0},"r":"small"}},{},{},{}]"#,
            node(0),
            node(1),
            node(2)
        );
        let report = apply_batch(&mut r, &first, || [1; 10], Some(&mut sizes)).unwrap();
        assert!(report.too_large.is_empty(), "about 90 KB: under the limit");
        // Three batches more: past 200 KB in the second, flagged there, and only there.
        let mut flagged = Vec::new();
        for b in 0..3 {
            let nodes: Vec<String> = (3 + 3 * b..6 + 3 * b).map(node).collect();
            let text = format!("[{}]", nodes.join(","));
            let report = apply_batch(&mut r, &text, || [1; 10], Some(&mut sizes)).unwrap();
            assert!(report.failures.is_empty(), "{:?}", report.failures);
            flagged.push(report.too_large);
        }
        assert_eq!(flagged.iter().map(Vec::len).collect::<Vec<_>>(), [0, 1, 0]);
        let message = flagged[1][0].to_string();
        assert!(message.contains("execution big is"), "{message}");
        assert!(message.contains("--max-body-bytes"), "{message}");
        let finish = format!(
            r#"[{{"o":"finish","t":{T0},"r":"big","k":"success"}},{{"o":"finish","t":{T0},"r":"small","k":"success"}}]"#
        );
        let report = apply_batch(&mut r, &finish, || [1; 10], Some(&mut sizes)).unwrap();
        assert!(
            report.too_large.is_empty(),
            "flagged once, not again at its end"
        );
        assert!(sizes.is_empty(), "finished records are no longer watched");
        let e = r.live("big").unwrap();
        assert_eq!(e.nodes.len(), 12, "the flagged record is kept whole");
        assert!(crate::sync::json_len(e) > 200_000);
    }

    #[test]
    fn text_that_is_not_a_batch_is_a_typed_error() {
        let mut r = recorder();
        for text in [
            "",
            "{}",
            r#"[{"o":"start"}]"#,
            r#"[{"o":"start","t":1,"r":"x","zz":1}]"#,
        ] {
            assert!(matches!(
                apply_batch(&mut r, text, || [0; 10], None),
                Err(Error::Validation(_))
            ));
        }
    }

    #[test]
    fn arguments_are_checked_as_the_batch_will_apply_them() {
        let policy = IntakePolicy::default();
        assert!(check_argument(&policy, "spec", r#"{"workflowId":"w"}"#, None).is_ok());
        let err = check_argument(&policy, "spec", r#"{"workflowID":"w"}"#, None).unwrap_err();
        assert!(err.to_string().contains("workflowId"), "{err}");
        assert!(check_argument(&policy, "node", r#"{"id":""}"#, None).is_err());
        assert!(check_argument(&policy, "output", r#"{"name":"o","row":1}"#, None).is_err());
        assert!(check_argument(&policy, "externalId", r#""id""#, Some("")).is_err());
        assert!(check_argument(&policy, "externalId", r#""id""#, Some("airflow")).is_ok());
        assert!(check_argument(&policy, "error", r#"{"message":"m","code":1}"#, None).is_err());
        assert!(check_argument(&policy, "what", "{}", None).is_err());
    }
}
