//! Test-only switches that break detectors on purpose so the suites can
//! show they catch a broken implementation. Compiled only with the
//! `negative-controls` feature, never in a default or release build.
//! Thread-local, so a weakened detector affects only the test that asks.

use std::cell::Cell;
thread_local! {
    static SKIP_CHECKSUM: Cell<bool> = const { Cell::new(false) };
    static SKIP_FSYNC: Cell<bool> = const { Cell::new(false) };
    static IGNORE_LOCK: Cell<bool> = const { Cell::new(false) };
    static DROP_RETENTION_GUARDS: Cell<bool> = const { Cell::new(false) };
    static DELETE_INSTEAD_OF_TRASH: Cell<bool> = const { Cell::new(false) };
    static SKIP_TRASH_SYNC: Cell<bool> = const { Cell::new(false) };
    static SKIP_RESTORE_SYNC: Cell<bool> = const { Cell::new(false) };
    static TRUST_ANY_MEMO_ENTRY: Cell<bool> = const { Cell::new(false) };
    static TRUST_NODE_INDEX: Cell<bool> = const { Cell::new(false) };
    static SCRUB_IGNORES_STAT: Cell<bool> = const { Cell::new(false) };
    static COMPLETE_OVERWRITES: Cell<bool> = const { Cell::new(false) };
    static SKIP_STORED_CHECKSUM: Cell<bool> = const { Cell::new(false) };
    static SKIM_UNVOUCHED: Cell<bool> = const { Cell::new(false) };
    static TRUST_BACKUP_GUESS: Cell<bool> = const { Cell::new(false) };
}
/// Makes a save take the backup that graph.json's meta names (by checksum
/// and size) as holding graph.json's bytes without comparing them, on this
/// thread and on the save's own threads: a primary changed in place is
/// then replaced without being kept.
pub fn set_trust_backup_guess(on: bool) {
    TRUST_BACKUP_GUESS.with(|c| c.set(on));
}
pub(crate) fn trust_backup_guess() -> bool {
    TRUST_BACKUP_GUESS.with(Cell::get)
}
/// Makes a history skim a graph file for a node whatever the memo says of
/// its content, on this thread: bytes that are not a graph can then answer.
pub fn set_skim_unvouched(on: bool) {
    SKIM_UNVOUCHED.with(|c| c.set(on));
}
pub(crate) fn skim_unvouched() -> bool {
    SKIM_UNVOUCHED.with(Cell::get)
}
/// Makes a remote's multipart completion leave out `If-None-Match`, as
/// object_store's own completion does, on this thread: an object that
/// appeared at the key meanwhile is then replaced.
pub fn set_complete_overwrites(on: bool) {
    COMPLETE_OVERWRITES.with(|c| c.set(on));
}
pub(crate) fn complete_overwrites() -> bool {
    COMPLETE_OVERWRITES.with(Cell::get)
}
/// Makes verification ignore the stored checksum and size of a compressed
/// backup (the plain checksum is still compared), on this thread.
pub fn set_skip_stored_checksum(on: bool) {
    SKIP_STORED_CHECKSUM.with(|c| c.set(on));
}
pub(crate) fn skip_stored_checksum() -> bool {
    SKIP_STORED_CHECKSUM.with(Cell::get)
}
/// Makes the memo trust any well-formed entry under a checksum's name,
/// whatever content it names, its size or its HMAC, on this thread.
pub fn set_trust_any_memo_entry(on: bool) {
    TRUST_ANY_MEMO_ENTRY.with(|c| c.set(on));
}
pub(crate) fn trust_any_memo_entry() -> bool {
    TRUST_ANY_MEMO_ENTRY.with(Cell::get)
}
/// Makes the scrub treat every backup's stat as unchanged, on this
/// thread, so a file changed in place waits for its turn.
pub fn set_scrub_ignores_stat(on: bool) {
    SCRUB_IGNORES_STAT.with(|c| c.set(on));
}
pub(crate) fn scrub_ignores_stat() -> bool {
    SCRUB_IGNORES_STAT.with(Cell::get)
}
/// Makes the checksum level pass whatever the bytes are, on this thread.
pub fn set_skip_checksum(on: bool) {
    SKIP_CHECKSUM.with(|c| c.set(on));
}
pub(crate) fn skip_checksum() -> bool {
    SKIP_CHECKSUM.with(Cell::get)
}
/// Makes `write_atomic` publish a file without fsyncing its data first,
/// on this thread.
pub fn set_skip_fsync(on: bool) {
    SKIP_FSYNC.with(|c| c.set(on));
}
pub(crate) fn skip_fsync() -> bool {
    SKIP_FSYNC.with(Cell::get)
}
/// Set to `1` in a child process's environment to weaken its lock: the
/// concurrency suite runs real processes.
pub const IGNORE_LOCK_ENV: &str = "GRAPHVAULT_NEGATIVE_IGNORE_LOCK";
/// Makes `Store::lock` go ahead when another writer holds the lock, on
/// this thread (or in a process started with [`IGNORE_LOCK_ENV`]=1).
pub fn set_ignore_lock(on: bool) {
    IGNORE_LOCK.with(|c| c.set(on));
}
pub(crate) fn ignore_lock() -> bool {
    IGNORE_LOCK.with(Cell::get) || std::env::var_os(IGNORE_LOCK_ENV).is_some_and(|v| v == "1")
}
/// The handle of a lock that was ignored: holds nothing.
pub(crate) struct Unlocked;
impl crate::store::fs::LockHandle for Unlocked {}
/// Makes retention plan without its two safeguards (the newest valid
/// backup and the floor), on this thread.
pub fn set_drop_retention_guards(on: bool) {
    DROP_RETENTION_GUARDS.with(|c| c.set(on));
}
pub(crate) fn drop_retention_guards() -> bool {
    DROP_RETENTION_GUARDS.with(Cell::get)
}
/// Makes a cached node index count as describing any file, without
/// comparing the checksum and size in its header, on this thread (and on
/// the worker threads of a history started from it).
pub fn set_trust_node_index(on: bool) {
    TRUST_NODE_INDEX.with(|c| c.set(on));
}
pub(crate) fn trust_node_index() -> bool {
    TRUST_NODE_INDEX.with(Cell::get)
}
/// Makes retention delete the backups it removes instead of moving them
/// to the trash, on this thread.
pub fn set_delete_instead_of_trash(on: bool) {
    DELETE_INSTEAD_OF_TRASH.with(|c| c.set(on));
}
pub(crate) fn delete_instead_of_trash() -> bool {
    DELETE_INSTEAD_OF_TRASH.with(Cell::get)
}
/// Makes a move to the trash skip the fsync of the trash between the links
/// and the removals from `backups/`, on this thread.
pub fn set_skip_trash_sync(on: bool) {
    SKIP_TRASH_SYNC.with(|c| c.set(on));
}
pub(crate) fn skip_trash_sync() -> bool {
    SKIP_TRASH_SYNC.with(Cell::get)
}
/// Makes a restore from the trash skip the fsync of `backups/` between
/// linking the files back and removing them from the trash, on this thread.
pub fn set_skip_restore_sync(on: bool) {
    SKIP_RESTORE_SYNC.with(|c| c.set(on));
}
pub(crate) fn skip_restore_sync() -> bool {
    SKIP_RESTORE_SYNC.with(Cell::get)
}
/// Set to `1` in a process's environment to make `compact` move a
/// backup's old file to the trash before its replacement is written and
/// proven (the wrong order): the real-process compact suite runs children.
pub const COMPACT_TRASH_FIRST_ENV: &str = "GRAPHVAULT_NEGATIVE_COMPACT_TRASH_FIRST";
pub(crate) fn compact_trash_first() -> bool {
    std::env::var_os(COMPACT_TRASH_FIRST_ENV).is_some_and(|v| v == "1")
}
