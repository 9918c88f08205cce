//! The shared store suite against the in-memory store.

use runledger::store::suite;
use runledger::MemoryStore;

#[test]
fn memory_store_passes_the_shared_suite() {
    futures::executor::block_on(suite::run_all(|_| async { MemoryStore::new() }));
}
