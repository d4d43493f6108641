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
