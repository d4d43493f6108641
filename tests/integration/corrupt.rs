use graphvault::store::StoreError;
use graphvault::store::corrupt::CorruptionKind;
use graphvault::store::recover::{RecoverOptions, Source};
use graphvault::store::verify::{Depth, Status, Target};

use crate::common::{self, snapshot_tree};

#[test]
fn refuses_a_store_that_is_not_a_sandbox() {
    let s = common::app_store();
    let before = snapshot_tree(&s.root());
    let err = s
        .open()
        .corrupt(CorruptionKind::BitFlip)
        .expect_err("refused");
    assert!(matches!(err, StoreError::NotSandbox { .. }));
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn every_kind_is_caught_at_its_level_and_recovered() {
    for kind in CorruptionKind::ALL {
        let s = common::app_store();
        s.mark_sandbox();
        let store = s.open();
        let report = store.corrupt(kind).expect("corrupt");
        let v = store.verify(&Target::Primary, Depth::Full).expect("verify");
        match kind.expected_level() {
            Some(level) => {
                assert!(
                    matches!(v.status, Status::Corrupt | Status::Missing),
                    "{kind:?}: {:?}",
                    v.status
                );
                assert_eq!(v.failed_level, Some(level), "{kind:?}: {:?}", v.reason);
                let (_, rec) = store
                    .load_with_recovery(RecoverOptions { dry_run: false })
                    .expect("recover");
                assert!(matches!(rec.source, Source::Backup(_)), "{kind:?}");
                assert_eq!(
                    store
                        .verify(&Target::Primary, Depth::Full)
                        .expect("verify")
                        .status,
                    Status::Valid
                );
            }
            None if kind == CorruptionKind::DeleteMeta => assert_eq!(v.status, Status::Unverified),
            None => {
                // Tampering passes a plain checksum; the report says so.
                assert_eq!(v.status, Status::Valid, "{kind:?}");
                assert!(!report.detectable);
                assert!(report.note.as_deref().unwrap_or("").contains("HMAC"));
            }
        }
    }
}

#[test]
fn unknown_kinds_are_refused_with_the_list() {
    let err = "melt".parse::<CorruptionKind>().expect_err("unknown");
    assert!(err.to_string().contains("bit-flip"));
}
