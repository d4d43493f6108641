use graphvault::store::{LockState, StoreError};

use crate::common;

#[test]
fn a_second_writer_gets_a_clear_error_naming_the_holder() {
    let s = common::app_store();
    let store = s.open();
    let guard = store.lock().expect("first lock");
    // Locks are per open file description: a second open in this process
    // conflicts like another process would.
    let err = s.open().snapshot().expect_err("locked");
    match &err {
        StoreError::Locked { holder, .. } => {
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
            assert!(holder.contains("since"), "{holder}");
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(err.to_string().contains("nothing was changed"));
    assert!(matches!(store.lock_state(), LockState::Held { .. }));
    // Readers do not need the lock.
    s.open().list_backups().expect("list while locked");
    drop(guard);
    assert_eq!(store.lock_state(), LockState::Free);
    s.open().snapshot().expect("lock released");
}

#[test]
fn a_waiting_writer_gets_the_lock_when_the_holder_finishes() {
    let s = common::app_store();
    let guard = s.open().lock().expect("first lock");
    let waiter = s.open().with_lock_wait(std::time::Duration::from_secs(10));
    let handle = std::thread::spawn(move || waiter.snapshot().map(|r| r.backup_id.to_string()));
    std::thread::sleep(std::time::Duration::from_millis(150));
    drop(guard);
    let id = handle
        .join()
        .expect("thread")
        .expect("snapshot after waiting");
    assert!(id.starts_with("graph_"));
    // A short wait still gives up with the holder named.
    let _guard = s.open().lock().expect("lock again");
    let err = s
        .open()
        .with_lock_wait(std::time::Duration::from_millis(100))
        .snapshot()
        .expect_err("gives up");
    assert!(matches!(err, StoreError::Locked { .. }));
}
