//! The JS API (wasm only): thin glue over the pure core.

mod any_store;
mod convert;
mod engine;
#[cfg(feature = "node-file")]
mod file_io;
mod locks;
mod platform;
mod retainer;
mod sync_driver;
mod syncer;
mod tracker;
mod uplink;

pub use any_store::AnyStore;
pub use engine::Engine;
pub use locks::{held_names, owner_lock_name, HeldLock};
pub use tracker::Tracker;
