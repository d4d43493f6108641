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

/// The simulator destroys bytes: before it damages a primary that no
/// backup holds, it keeps those bytes in evidence, as a save does (before,
/// they were gone). A primary a backup holds is not kept again.
#[test]
fn damage_keeps_a_primary_no_backup_holds_first() {
    for kind in CorruptionKind::ALL {
        let s = common::app_store();
        s.mark_sandbox();
        let original = std::fs::read(s.primary()).expect("primary");
        s.open().corrupt(kind).expect("corrupt");
        let items = s.open().list_evidence(None).expect("evidence").items;
        let kept = items
            .iter()
            .find(|i| i.id.why() == "before-corrupt")
            .map(|i| i.data_path.clone())
            .unwrap_or_else(|| panic!("{kind:?}: nothing kept"));
        assert_eq!(std::fs::read(kept).expect("kept"), original, "{kind:?}");
    }
    // The command line says where.
    let s = common::app_store();
    s.mark_sandbox();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(s.root())
        .args(["corrupt", "bit-flip"])
        .output()
        .expect("run graphvault");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("kept the primary first"), "{text}");
    // Bytes a backup holds are not kept twice.
    let s = common::app_store();
    s.mark_sandbox();
    s.open().snapshot().expect("snapshot");
    s.open().corrupt(CorruptionKind::Truncate).expect("corrupt");
    let items = s.open().list_evidence(None).expect("evidence").items;
    assert!(items.is_empty(), "{items:?}");
}

/// The sandbox marker names the store it was made for: copied into a real
/// store it marks nothing, and the simulator refuses with why (before, a
/// copied marker let it damage the real store).
#[test]
fn a_sandbox_marker_copied_into_another_store_is_refused() {
    let sandbox = common::app_store();
    sandbox.mark_sandbox();
    let real = common::app_store();
    let marker = std::path::Path::new(".graphvault").join("sandbox");
    std::fs::create_dir_all(real.root().join(".graphvault")).expect("state dir");
    std::fs::copy(sandbox.root().join(&marker), real.root().join(&marker)).expect("copy");
    let before = snapshot_tree(&real.root());
    let store = real.open();
    assert!(!store.is_sandbox());
    let err = store.corrupt(CorruptionKind::BitFlip).expect_err("refused");
    assert!(matches!(err, StoreError::NotSandbox { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("copied from another store") && text.contains("nothing was changed"),
        "{text}"
    );
    assert_eq!(snapshot_tree(&real.root()), before);
    // The store it was made for is still a sandbox.
    assert!(sandbox.open().is_sandbox());
}
