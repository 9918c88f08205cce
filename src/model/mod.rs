//! The record model: executions, node runs and their lifecycle. Pure data, no I/O.

mod error_info;
mod execution;
mod ids;
mod json;
mod lifecycle;
mod node;
pub mod time;

pub use error_info::ErrorInfo;
pub use execution::{
    Column, Execution, Kind, Metadata, Output, OutputKind, OutputRole, QueryInfo, Status, Trigger,
    TriggerType, SCHEMA_VERSION,
};
pub use ids::IdGenerator;
pub use json::{skimming, Json};
pub use lifecycle::{NodeDef, NodeOutcome};
pub use node::{NodeRun, NodeStatus};
pub use time::Millis;
