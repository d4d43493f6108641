//! The UI's worker thread on a real store: what the UI is told, in what
//! order, so that it never shows an older, shallower status than the store
//! found, and sees another process's writes without F5.

use std::fs;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use graphvault::store::names::BackupId;
use graphvault::store::verify::{Level, Status, Target};
use graphvault::tui::error::ErrorKind;
use graphvault::tui::worker::{self, Command, Event};

use crate::common::{self, MetaName, app_graph};

struct Worker {
    commands: Sender<Command>,
    events: Receiver<Event>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn on(store: graphvault::store::Store) -> Worker {
        let (commands, commands_rx) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let handle = worker::spawn(store, commands_rx, events_tx).expect("worker");
        Worker {
            commands,
            events,
            handle: Some(handle),
        }
    }

    fn send(&self, c: Command) {
        self.commands.send(c).expect("send");
    }

    /// Every event up to and including the first `last` accepts.
    fn until(&self, last: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            match self.events.recv_timeout(Duration::from_secs(60)) {
                Ok(e) => {
                    let done = last(&e);
                    seen.push(e);
                    if done {
                        return seen;
                    }
                }
                Err(e) => panic!("the worker went quiet: {e}; saw {seen:?}"),
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let (dead, _) = mpsc::channel();
        self.commands = dead;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn a_restore_refused_for_a_dangling_edge_tells_the_row_before_the_refusal() {
    let s = common::app_store();
    let dangling = app_graph(3, 2, false, "x").replace("\"to\": \"N2\"", "\"to\": \"GHOST\"");
    let id = s.add_backup("20251004_100000", &dangling, MetaName::Meta);
    let id: BackupId = id.parse().expect("id");
    let w = Worker::on(s.open());
    w.send(Command::RestorePlan {
        id: id.clone(),
        allow_unverified: false,
    });
    let events = w.until(|e| matches!(e, Event::RestorePlanned { .. }));
    let verified = events.iter().position(|e| {
        matches!(e, Event::Verified(Ok(r))
            if r.target == Target::Backup(id.clone())
                && r.status == Status::Corrupt
                && r.failed_level == Some(Level::Consistency))
    });
    let refused = events.iter().position(|e| {
        matches!(e, Event::RestorePlanned { result: Err(err), .. } if err.kind == ErrorKind::Integrity)
    });
    let (Some(verified), Some(refused)) = (verified, refused) else {
        panic!("expected the verification, then the refusal: {events:?}");
    };
    assert!(verified < refused, "{events:?}");
}

#[test]
fn another_process_writing_the_store_is_seen_at_the_next_watch() {
    let s = common::app_store();
    let w = Worker::on(s.open());
    w.send(Command::Refresh);
    w.until(|e| matches!(e, Event::PrimaryVerified(_)));
    // Nothing changed: a watch says nothing.
    w.send(Command::Watch);
    w.send(Command::Probe);
    let quiet = w.until(|e| matches!(e, Event::Probed { .. }));
    assert!(
        !quiet.iter().any(|e| matches!(e, Event::ChangedOnDisk)),
        "{quiet:?}"
    );
    // Another process damages the primary and adds a backup.
    let mut bytes = fs::read(s.primary()).expect("read");
    bytes.truncate(bytes.len() / 2);
    fs::write(s.primary(), &bytes).expect("truncate");
    s.add_backup(
        "20251005_100000",
        &app_graph(4, 2, false, "new"),
        MetaName::Meta,
    );
    w.send(Command::Watch);
    let seen = w.until(|e| matches!(e, Event::PrimaryVerified(_)));
    assert!(
        matches!(seen.first(), Some(Event::ChangedOnDisk)),
        "{seen:?}"
    );
    let listed = seen.iter().find_map(|e| match e {
        Event::Listed(state) => state.listing.as_ref().ok(),
        _ => None,
    });
    assert!(
        listed.is_some_and(|l| l
            .backups
            .iter()
            .any(|b| b.id.to_string() == "graph_20251005_100000")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::PrimaryVerified(r) if r.status == Status::Corrupt))
    );
}
