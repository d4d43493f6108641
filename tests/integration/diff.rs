use graphvault::store::verify::Target;

use crate::common;

#[test]
fn diff_between_backups_and_the_primary() {
    let s = common::app_store();
    let store = s.open();
    let old = Target::Backup("graph_20251001_100000".parse().expect("id"));
    let r = store.diff(&old, &Target::Primary).expect("diff");
    assert_eq!(r.diff.nodes_added, ["N2", "N3", "N4"]);
    assert!(r.diff.nodes_removed.is_empty());
    // Same ids with other payloads are changed.
    assert_eq!(r.diff.nodes_changed, ["N0", "N1"]);
    assert_eq!(r.diff.edges_added.len(), 3);
    assert!(r.new_size > r.old_size);
    let same = store
        .diff(&Target::Primary, &Target::Primary)
        .expect("diff");
    assert!(
        same.diff.nodes_added.is_empty()
            && same.diff.nodes_changed.is_empty()
            && same.diff.edges_changed.is_empty()
    );
}

#[test]
fn diff_of_an_unknown_backup_is_an_error() {
    let s = common::app_store();
    let r = s.open().diff(
        &Target::Backup("graph_20990101_000000".parse().expect("id")),
        &Target::Primary,
    );
    assert!(r.is_err());
}
