//! Negative controls: a detector that cannot fail proves nothing. Built
//! with the `negative-controls` feature, each test weakens one part of the
//! core on purpose and asserts that the suite which guards it now reports
//! a violation. Run by `.ci/run`:
//! `cargo test --features negative-controls --test reliability negative`.

#[cfg(feature = "negative-controls")]
mod weakened {
    use graphvault::store::negative_controls::{
        set_delete_instead_of_trash, set_drop_retention_guards, set_skip_checksum, set_skip_fsync,
        set_skip_restore_sync, set_skip_trash_sync,
    };
    use proptest::test_runner::TestCaseError;

    use crate::concurrency::probe_rounds;
    use crate::corruption::bit_flip_matrix;
    use crate::crash::{crash_every_step_of_trash_restore, crash_every_step_sim};
    use crate::retention::{CASES, Case, Kind, cases, check_rotation, runner};
    use crate::scenario::Scenario;
    use crate::simfs::Loss;

    /// Switches a weakening off again even if the test fails halfway.
    struct Restore(fn(bool));

    impl Drop for Restore {
        fn drop(&mut self) {
            (self.0)(false);
        }
    }

    fn weaken(switch: fn(bool)) -> Restore {
        switch(true);
        Restore(switch)
    }

    #[test]
    fn negative_control_without_the_data_fsync_power_loss_breaks_saves() {
        let _weak = weaken(set_skip_fsync);
        let tally = crash_every_step_sim(Scenario::Save, &[Loss::Process, Loss::Power(0)]);
        println!(
            "negative control, fsync of file data skipped: {} of {} crash states violated",
            tally.failures.len(),
            tally.checks
        );
        assert!(
            !tally.failures.is_empty(),
            "the power-loss suite did not notice a missing fsync"
        );
        // A process crash keeps the page cache: only power loss exposes it.
        assert!(
            tally.failures.iter().all(|f| f.contains("Power(0)")),
            "{:#?}",
            tally.failures
        );
    }

    #[test]
    fn negative_control_without_the_data_fsync_power_loss_truncates_check_records() {
        let _weak = weaken(set_skip_fsync);
        let tally = crate::check::crash_every_step_of_check();
        println!(
            "negative control, fsync skipped in check: {} of {} crash states violated",
            tally.failures.len(),
            tally.checks
        );
        assert!(
            tally.failures.iter().any(|f| f.contains("metrics")),
            "the check's crash suite did not notice a missing fsync: {:#?}",
            tally.failures
        );
    }

    #[test]
    fn negative_control_without_the_checksum_compare_bit_flips_go_unnoticed() {
        let _weak = weaken(set_skip_checksum);
        let m = bit_flip_matrix();
        println!(
            "negative control, checksum compare skipped: {} of {} bit flips went unnoticed, {} violations",
            m.unnoticed, m.cases, m.violations
        );
        assert!(
            m.unnoticed > 0 && !m.failures.is_empty(),
            "the corruption matrix did not notice a missing checksum compare"
        );
    }

    #[test]
    fn negative_control_with_the_lock_ignored_writers_overlap() {
        // The children run with GRAPHVAULT_NEGATIVE_IGNORE_LOCK=1: their
        // `Store::lock` goes ahead whoever holds the lock.
        let tally = probe_rounds(4, 4, true);
        println!(
            "negative control, lock ignored: {} rounds of 4 writers, {} overlapping pairs, {} refused",
            tally.rounds, tally.overlaps, tally.refused
        );
        assert!(
            tally.overlaps > 0,
            "the exclusion check did not notice writers ignoring the lock: {tally:?}"
        );
        assert_eq!(tally.refused, 0, "{tally:?}");
    }

    #[test]
    fn negative_control_without_the_retention_guards_the_newest_valid_backup_goes() {
        let _weak = weaken(set_drop_retention_guards);
        // The newest backup is corrupt and the only valid one is older than
        // the window measured from it: only the guards keep the valid one.
        let stranded = Case {
            backups: vec![(0, false, Kind::Valid), (100 * 1440, false, Kind::Corrupt)],
            policy: graphvault::store::retention::RetentionPolicy {
                keep_last: None,
                keep_within: Some(chrono::Duration::days(30)),
                min_valid: 1,
                ..Default::default()
            },
            keyed: false,
            save_clock_days: 0,
            grace_minutes: 14 * 1440,
            later_minutes: 0,
        };
        let why = check_rotation(&stranded).expect_err("the newest valid backup must go");
        assert!(why.contains("newest valid backup"), "{why}");
        // And the random search of the normal suite finds it by itself.
        let found = runner(CASES * 4).run(&cases(), |case| {
            check_rotation(&case).map_err(TestCaseError::fail)
        });
        println!("negative control, retention guards dropped: {why}; property search: {found:?}");
        assert!(
            found.is_err(),
            "the property test did not notice the missing guards"
        );
    }

    #[test]
    fn negative_control_retention_that_deletes_instead_of_trashing_is_caught() {
        let _weak = weaken(set_delete_instead_of_trash);
        let case = Case {
            backups: vec![
                (0, false, Kind::Valid),
                (1440, false, Kind::Valid),
                (2 * 1440, false, Kind::Valid),
            ],
            policy: graphvault::store::retention::RetentionPolicy {
                keep_last: Some(1),
                keep_within: None,
                min_valid: 1,
                ..Default::default()
            },
            keyed: false,
            save_clock_days: 0,
            grace_minutes: 14 * 1440,
            later_minutes: 0,
        };
        let why = check_rotation(&case).expect_err("deleting must be noticed");
        println!("negative control, retention deletes instead of trashing: {why}");
        assert!(why.contains("without a purge past its grace"), "{why}");
        let tally = crash_every_step_sim(Scenario::SaveRotate, &[Loss::Process]);
        assert!(
            tally.failures.iter().any(|f| f.contains("in neither")),
            "the crash suite's checker did not notice: {:#?}",
            tally.failures
        );
    }

    #[test]
    fn negative_control_without_the_trash_fsync_power_loss_loses_a_backup() {
        let _weak = weaken(set_skip_trash_sync);
        let tally = crash_every_step_sim(Scenario::SaveRotate, &[Loss::Power(0)]);
        println!(
            "negative control, trash fsync skipped: {} of {} crash states violated",
            tally.failures.len(),
            tally.checks
        );
        // The backup's files are gone from backups/ and never reached the
        // trash: only its manifest is left there.
        assert!(
            tally
                .failures
                .iter()
                .any(|f| f.contains("in neither") || f.contains("not whole")),
            "the power-loss suite did not notice a missing trash fsync: {:#?}",
            tally.failures
        );
    }

    #[test]
    fn negative_control_without_the_restore_fsync_power_loss_loses_a_backup() {
        let _weak = weaken(set_skip_restore_sync);
        let tally = crash_every_step_of_trash_restore(&[Loss::Power(0)]);
        println!(
            "negative control, trash restore fsync skipped: {} of {} crash states violated",
            tally.failures.len(),
            tally.checks
        );
        // The trash's copy is removed before the links back are durable:
        // a power cut loses the backup from both places.
        assert!(
            tally.failures.iter().any(|f| f.contains("in neither")),
            "the power-loss suite did not notice a missing restore fsync: {:#?}",
            tally.failures
        );
    }

    #[test]
    fn negative_control_compact_that_trashes_before_writing_is_caught_by_real_aborts() {
        use graphvault::store::negative_controls::COMPACT_TRASH_FIRST_ENV;
        let tally = crate::kill_compact::abort_at_every_step(Some(COMPACT_TRASH_FIRST_ENV));
        println!(
            "negative control, compact trashes the old file first: {} child processes aborted, first violation: {:?}",
            tally.runs,
            tally.failures.first()
        );
        assert!(
            tally
                .failures
                .iter()
                .any(|f| f.contains("cannot be read") || f.contains("is not listed")),
            "the real-process compact suite did not notice: {:#?}",
            tally.failures
        );
    }
}
