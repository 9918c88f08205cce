//! Stats without scanning records: rollup cells kept in step with the records (in the same
//! transaction), a mergeable quantile sketch for percentiles, and queries over the cells.
//!
//! ```text
//! write / delete / prune ─► changes(old, new) ─► ±Contribution ─► Cell (slot, workflow,
//!                                                                  user, database, status, kind)
//! stats(query) ─► cells in the slot range ─► filter ─► group ─► sums, rate, sketch quantiles
//! ```

mod page;
mod query;
mod rollup;
mod sketch;

pub use page::{decode_page, encode_page, page_slot, PAGE_SLOTS};
pub use query::{
    aggregate, parse_time_zone, round_to, Durations, GroupBy, GroupKey, StatsFilter, StatsGroup,
    StatsQuery, StatsResult, DURATION_DECIMALS, PERCENT_DECIMALS,
};
pub use rollup::{changes, Cell, CellKey, Contribution, Rollups, SLOT_MS};
pub use sketch::{Extremes, Sketch, RELATIVE_ERROR};
