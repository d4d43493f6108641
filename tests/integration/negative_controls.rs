//! Each detector's test must be able to fail. With the `negative-controls`
//! feature, these tests weaken a detector and show that the very check the
//! normal suite relies on then misses the fault. Run by `.ci/run`.

#[cfg(feature = "negative-controls")]
mod weakened {
    use std::fs;

    use graphvault::store::negative_controls::set_skip_checksum;
    use graphvault::store::verify::{Depth, Status, Target};

    use crate::common;

    #[test]
    fn skipping_the_stored_checksum_lets_bytes_appended_to_a_compressed_backup_through() {
        use graphvault::store::negative_controls::set_skip_stored_checksum;
        let s = common::empty_store();
        let mut store = s.open();
        store.set_setting("compression", "zstd").expect("set");
        let graph = graphvault::graph::KnowledgeGraph::from_slice(
            common::app_graph(20, 2, false, "n").as_bytes(),
        )
        .expect("graph");
        let saved = store.save_graph_with_backup(&graph).expect("save");
        // Bytes after the frame: the decoder stops at the frame's end and
        // the plain JSON is unchanged, so only the stored checksum and
        // size can tell the file is not the one written.
        let mut stored = fs::read(&saved.backup_path).expect("read");
        stored.extend_from_slice(b"appended");
        fs::write(&saved.backup_path, &stored).expect("write");
        let target = Target::Backup(saved.backup_id.clone());
        assert_eq!(
            store.verify(&target, Depth::Full).expect("verify").status,
            Status::Corrupt
        );
        set_skip_stored_checksum(true);
        let weakened = store.verify(&target, Depth::Full).expect("verify").status;
        set_skip_stored_checksum(false);
        assert_eq!(
            weakened,
            Status::Valid,
            "without the stored checksum the appended bytes go unnoticed"
        );
    }

    #[test]
    fn skipping_the_checksum_compare_lets_a_bit_flip_through() {
        let s = common::app_store();
        let mut bytes = fs::read(s.primary()).expect("read");
        // Flip a bit inside a string value: still valid JSON, so only the
        // checksum can catch it.
        let at = bytes
            .windows(6)
            .position(|w| w == b"symbol")
            .expect("symbol")
            + 10;
        bytes[at] ^= 0x01;
        fs::write(s.primary(), &bytes).expect("write");
        assert_eq!(
            s.open()
                .verify(&Target::Primary, Depth::Full)
                .expect("verify")
                .status,
            Status::Corrupt
        );
        set_skip_checksum(true);
        let weakened = s
            .open()
            .verify(&Target::Primary, Depth::Full)
            .expect("verify");
        let weakened = weakened.status;
        set_skip_checksum(false);
        assert_eq!(
            weakened,
            Status::Valid,
            "with the compare skipped the flip goes unnoticed"
        );
    }

    #[test]
    fn trusting_any_memo_entry_lets_a_file_that_does_not_parse_through() {
        use graphvault::store::negative_controls::set_trust_any_memo_entry;
        use graphvault::store::verify::Level;

        use crate::memo::{plant_entry, saved_store, unparseable_primary};

        let s = saved_store(4);
        let good = fs::read(s.primary()).expect("read");
        let garbage = unparseable_primary(&s, None);
        // Under the garbage's name, still naming the good content inside.
        plant_entry(&s, &good, &garbage, false);
        let verify = || {
            s.open()
                .verify(&Target::Primary, Depth::Full)
                .expect("verify")
        };
        assert_eq!(verify().failed_level, Some(Level::Parse));
        set_trust_any_memo_entry(true);
        let weakened = verify().status;
        set_trust_any_memo_entry(false);
        assert_eq!(
            weakened,
            Status::Valid,
            "a memo that trusts any entry makes garbage valid"
        );
    }

    #[test]
    fn trusting_any_memo_entry_lets_a_forged_entry_through_a_keyed_store() {
        use graphvault::graph::KnowledgeGraph;
        use graphvault::store::auth::Key;
        use graphvault::store::negative_controls::set_trust_any_memo_entry;

        use crate::memo::{entry_path, plant_entry, unparseable_primary};

        let key = || Key::from_bytes(b"a secret kept outside the store").expect("key");
        let s = common::empty_store();
        let text = common::app_graph(4, 2, false, "k");
        s.open()
            .with_key(key())
            .save_graph_with_backup(&KnowledgeGraph::from_slice(text.as_bytes()).expect("graph"))
            .expect("save");
        let good = fs::read(s.primary()).expect("read");
        assert!(entry_path(&s, &good).is_file());
        let garbage = unparseable_primary(&s, Some(&key()));
        // Renamed inside too, but with the good content's HMAC: a forgery.
        plant_entry(&s, &good, &garbage, true);
        let verify = || {
            s.open()
                .with_key(key())
                .verify(&Target::Primary, Depth::Full)
                .expect("verify")
                .status
        };
        assert_eq!(verify(), Status::Corrupt);
        set_trust_any_memo_entry(true);
        let weakened = verify();
        set_trust_any_memo_entry(false);
        assert_eq!(weakened, Status::Valid, "the forged entry is taken");
    }

    /// The node index names the content it describes; a cached index of other
    /// content under a backup's name is rebuilt. Trusting the name instead gives
    /// a wrong history.
    #[test]
    fn trusting_a_node_index_by_its_name_gives_a_wrong_history() {
        use graphvault::store::history::{HistoryOptions, NodeState};
        use graphvault::store::negative_controls::set_trust_node_index;
        let s = common::app_store();
        let store = s.open();
        let first = store
            .history("N3", HistoryOptions::default())
            .expect("history");
        let dir = store.node_index_dir();
        // Put the index of the oldest backup (2 nodes: no N3) under every name.
        let oldest = s.backups().join("graph_20251001_100000.json");
        let oldest = common::sha256(&fs::read(oldest).expect("read"));
        let source = dir.join(format!("{oldest}.idx"));
        for entry in fs::read_dir(&dir).expect("dir").flatten() {
            if entry.path() != source {
                fs::copy(&source, entry.path()).expect("forge");
            }
        }
        let states = |h: &graphvault::store::history::HistoryReport| -> Vec<NodeState> {
            h.entries.iter().map(|e| e.state).collect()
        };
        let checked = store
            .history("N3", HistoryOptions::default())
            .expect("history");
        assert_eq!(
            states(&checked),
            states(&first),
            "forged indexes are rebuilt"
        );
        for entry in fs::read_dir(&dir).expect("dir").flatten() {
            if entry.path() != source {
                fs::copy(&source, entry.path()).expect("forge");
            }
        }
        set_trust_node_index(true);
        let weakened = store.history("N3", HistoryOptions::default());
        set_trust_node_index(false);
        let weakened = weakened.expect("history");
        assert_ne!(
            states(&weakened),
            states(&first),
            "trusting the name, the forged indexes go unnoticed"
        );
    }

    /// A history skims only content the memo vouches for: the skim checks
    /// nothing, so bytes that are not a graph (here a number with a leading
    /// zero, which no JSON parser accepts) must go to the full scan, which
    /// calls the backup unreadable. Skimming them anyway answers from them.
    #[test]
    fn skimming_content_the_memo_does_not_vouch_for_answers_from_a_broken_graph() {
        use graphvault::store::history::{HistoryOptions, NodeState};
        use graphvault::store::negative_controls::set_skim_unvouched;
        let s = common::app_store();
        let broken = r#"{"nodes": {"N3": {"id": "N3", "data": {"v": 01}}}, "edges": []}"#;
        s.add_backup("20251004_100000", broken, common::MetaName::Meta);
        let store = s.open();
        let state = |skim: bool| {
            set_skim_unvouched(skim);
            let h = store.history("N3", HistoryOptions::default());
            set_skim_unvouched(false);
            let h = h.expect("history");
            h.entries
                .iter()
                .find(|e| e.target.to_string() == "graph_20251004_100000")
                .map(|e| e.state)
                .expect("the broken backup's entry")
        };
        assert_eq!(state(false), NodeState::Unreadable);
        fs::remove_dir_all(store.node_index_dir()).expect("drop the indexes");
        assert_ne!(
            state(true),
            NodeState::Unreadable,
            "skimming unvouched bytes, the broken backup answers"
        );
    }

    #[test]
    fn a_scrub_that_ignores_stat_misses_a_backup_changed_in_place() {
        use graphvault::store::negative_controls::set_scrub_ignores_stat;
        use graphvault::store::save::SaveOptions;
        use graphvault::store::scrub::ScrubOptions;

        let run = |weaken: bool| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = graphvault::store::Store::open(dir.path().join("s"))
                .expect("open")
                .with_lock_wait(std::time::Duration::from_secs(5));
            let start = chrono::Local::now() - chrono::Duration::days(5);
            for i in 0..5 {
                let g = graphvault::graph::KnowledgeGraph::from_slice(
                    common::app_graph(3, 2, false, &format!("x{i}")).as_bytes(),
                )
                .expect("graph");
                store
                    .save_with(
                        &g,
                        &SaveOptions {
                            rotate: false,
                            at: Some(start + chrono::Duration::days(i)),
                        },
                    )
                    .expect("save");
            }
            let opts = |now| ScrubOptions {
                days: 7,
                full: false,
                now,
                threads: 1,
            };
            let now = chrono::Local::now();
            store.scrub(opts(now)).expect("first scrub");
            // Flip a bit in the newest backup: same size, new mtime.
            let newest = store.list_backups().expect("list").backups[0]
                .data_path
                .clone();
            let mut bytes = fs::read(&newest).expect("read");
            bytes[30] ^= 0x01;
            fs::write(&newest, &bytes).expect("write");
            set_scrub_ignores_stat(weaken);
            let r = store.scrub(opts(now + chrono::Duration::hours(1)));
            set_scrub_ignores_stat(false);
            r.expect("scrub").corrupt
        };
        assert_eq!(
            run(false),
            1,
            "the normal scrub re-hashes the changed file at once"
        );
        assert_eq!(
            run(true),
            0,
            "ignoring the stat, the change waits for its turn"
        );
    }

    /// The remote's multipart completion is create-only; sent without
    /// `If-None-Match` (as object_store's own completion is), an object
    /// that appeared at the key during the upload is replaced, which
    /// `remote::a_multipart_completion_never_replaces_...` would catch.
    #[test]
    fn a_completion_without_if_none_match_replaces_an_object_that_appeared() {
        use graphvault::remote::ObjectBackend;
        use graphvault::remote::backend::PutOutcome;
        use graphvault::store::negative_controls::set_complete_overwrites;

        use crate::s3server;

        let server = s3server::shared();
        let bucket = server.bucket(&s3server::unique_bucket("negcomplete"));
        let backend = server.backend(&bucket);
        let part = vec![9u8; 1 << 20];
        let race = |key: &str, weaken: bool| {
            let upload = backend.multipart_begin(key).expect("begin");
            let id = backend
                .multipart_part(key, &upload, 0, part.clone())
                .expect("part");
            backend
                .put_create(key, b"theirs".to_vec())
                .expect("another writer");
            set_complete_overwrites(weaken);
            let outcome = backend.multipart_complete(key, &upload, vec![id]);
            set_complete_overwrites(false);
            let outcome = outcome.expect("complete");
            let now = backend.get(key, 1 << 30).expect("get");
            if outcome == PutOutcome::AlreadyExists {
                let _ = backend.multipart_abort(key, &upload);
            }
            (outcome, now == b"theirs")
        };
        assert_eq!(
            race("neg/a", false),
            (PutOutcome::AlreadyExists, true),
            "create-only: the first object stays"
        );
        assert_eq!(
            race("neg/b", true),
            (PutOutcome::Created, false),
            "weakened: the first object is replaced"
        );
    }

    /// A save keeps graph.json before replacing it unless a backup holds
    /// exactly its bytes. Trusting the backup its meta names, without
    /// comparing, loses a primary changed in place (same size, meta left).
    #[test]
    fn trusting_the_backup_a_meta_names_loses_a_primary_changed_in_place() {
        use graphvault::store::negative_controls::set_trust_backup_guess;
        let graph = |salt: &str| {
            graphvault::graph::KnowledgeGraph::from_slice(
                common::app_graph(6, 2, false, salt).as_bytes(),
            )
            .expect("graph")
        };
        let kept_after_save = |weakened: bool| {
            let s = common::empty_store();
            let store = s.open();
            store.save_graph_with_backup(&graph("one")).expect("save");
            let mut bytes = fs::read(s.primary()).expect("read");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            fs::write(s.primary(), &bytes).expect("change in place");
            set_trust_backup_guess(weakened);
            let saved = store.save_graph_with_backup(&graph("two"));
            set_trust_backup_guess(false);
            saved.expect("save");
            fs::read_dir(s.root().join(".graphvault/evidence"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| fs::read(e.path()).is_ok_and(|kept| kept == bytes))
        };
        assert!(kept_after_save(false), "the changed primary is kept");
        assert!(
            !kept_after_save(true),
            "weakened: the changed primary is replaced without being kept"
        );
    }
}
