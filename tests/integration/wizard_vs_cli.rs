//! The wizard and `graphvault recover` on the same store give the same
//! candidates, the same recommendation, the same warnings and the same
//! "what was lost": both call the store's one recovery. The wizard is
//! driven through the UI's real worker thread; the command line is the
//! real binary.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Duration;

use graphvault::store::Store;
use graphvault::store::recover::RecoveryPlan;
use graphvault::tui::worker::{self, Event, Recovery, WizardCommand, WizardEvent};

use crate::common::{self, MetaName};

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("ls").flatten() {
        let kind = e.file_type().expect("type");
        let dest = to.join(e.file_name());
        if kind.is_dir() {
            copy_tree(&e.path(), &dest);
        } else if kind.is_file() {
            fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

fn cli_recover(root: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(root)
        .args(["--json", "recover"])
        .output()
        .expect("run graphvault");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc["result"].clone()
}

/// The wizard's plan and recovery of the recommended candidate.
fn wizard_recover(root: &Path) -> (RecoveryPlan, Recovery) {
    let store = Store::open(root).expect("open");
    let (commands, commands_rx) = mpsc::channel();
    let (events_tx, events) = mpsc::channel();
    let handle = worker::spawn(store, commands_rx, events_tx).expect("worker");
    let wait = |want: &dyn Fn(&WizardEvent) -> bool| -> WizardEvent {
        loop {
            match events.recv_timeout(Duration::from_secs(60)) {
                Ok(Event::Wizard(e)) if want(&e) => return e,
                Ok(_) => {}
                Err(e) => panic!("the worker went quiet: {e}"),
            }
        }
    };
    let send = |c: WizardCommand| commands.send(worker::Command::Wizard(c)).expect("send");
    send(WizardCommand::Begin { copy: false });
    wait(&|e| matches!(e, WizardEvent::Began(_)));
    send(WizardCommand::Candidates {
        cancel: Arc::new(AtomicBool::new(false)),
    });
    let WizardEvent::CandidatesDone(Ok(plan)) =
        wait(&|e| matches!(e, WizardEvent::CandidatesDone(_)))
    else {
        panic!("no plan");
    };
    let id = plan.recommended.clone().expect("a recommendation");
    send(WizardCommand::Restore {
        plan: plan.clone(),
        id,
        allow_unverified: false,
    });
    let WizardEvent::Restored(Ok(recovery)) = wait(&|e| matches!(e, WizardEvent::Restored(_)))
    else {
        panic!("not restored");
    };
    drop(commands);
    handle.join().expect("worker ends");
    (*plan, *recovery)
}

fn compare(store: &common::AppStore) -> serde_json::Value {
    let other = tempfile::tempdir().expect("tempdir");
    let copy = other.path().join("storage");
    copy_tree(&store.root(), &copy);

    let cli = cli_recover(&store.root());
    let (plan, recovery) = wizard_recover(&copy);
    let report = &recovery.report;

    // The command line stops at the recommended backup; the wizard shows
    // every candidate. Up to the recommendation they are the same files
    // with the same results.
    let cli_candidates: Vec<(String, String)> = cli["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| {
            (
                c["target"]["id"].as_str().unwrap_or("primary").to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let wizard_candidates: Vec<(String, String)> = plan
        .candidates
        .iter()
        .map(|c| (c.target.to_string(), c.status.name().to_string()))
        .take(cli_candidates.len())
        .collect();
    assert!(!cli_candidates.is_empty());
    assert_eq!(wizard_candidates, cli_candidates);
    assert_eq!(
        cli["recommended"].as_str(),
        plan.recommended
            .as_ref()
            .map(ToString::to_string)
            .as_deref()
    );
    assert_eq!(
        cli["source"]["id"],
        serde_json::json!(report.source_label())
    );
    let wizard_warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(cli["warnings"], serde_json::json!(wizard_warnings));
    assert_eq!(
        cli["lost"],
        serde_json::to_value(&report.lost).expect("json"),
        "what was lost"
    );
    cli
}

#[test]
fn a_truncated_primary_restored_from_a_future_dated_backup() {
    let s = common::app_store();
    let text = common::app_graph(3, 2, false, "future");
    s.add_backup("20991231_120000", &text, MetaName::Meta);
    fs::write(s.primary(), b"{\"nodes\": {").expect("truncate");
    let cli = compare(&s);
    assert_eq!(cli["lost"]["kind"], "unknown", "{cli}");
    assert!(
        cli["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("dated in the future")),
        "{cli}"
    );
    let cli = cli_recover(&s.root());
    assert_eq!(cli["source"]["kind"], "primary", "recovered once");
}

#[test]
fn a_truncated_primary_whose_meta_matches_the_backup_lost_nothing() {
    let s = common::app_store();
    // The primary's bytes are the newest valid backup's, then truncated.
    let text = common::app_graph(4, 2, true, "c");
    s.write_primary(&text, true);
    fs::write(s.primary(), &text.as_bytes()[..text.len() / 2]).expect("truncate");
    let cli = compare(&s);
    assert_eq!(cli["lost"]["kind"], "same_checksum", "{cli}");
    let (_, report) = s
        .open()
        .load_with_recovery(Default::default())
        .expect("no-op");
    assert!(report.lost.is_none(), "the primary was restored already");
}
