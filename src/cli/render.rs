//! Text renderings of the store's reports for the command line.

use std::fmt::Write;

use crate::present::{age, count_of, human_size, local_time, now_local, short_checksum};
use crate::store::Store;
use crate::store::corrupt::CorruptionReport;
use crate::store::diff::DiffReport;
use crate::store::evidence::{EvidenceListing, EvidenceRestoreReport};
use crate::store::list::BackupListing;
use crate::store::recover::{Lost, RecoveryReport, RecoveryWarning, Source, warns_of_stale_meta};
use crate::store::restore::RestoreReport;
use crate::store::retention::Action;
use crate::store::rotate::RotateReport;
use crate::store::save::{SaveReport, SnapshotReport};
use crate::store::trash::{TrashEmptyReport, TrashListing, TrashRestorePlan, TrashRestoreReport};
use crate::store::verify::{FileReport, Outcome, Status, VerifyAllReport};

/// Column alignment.
#[derive(Clone, Copy)]
pub(super) enum Align {
    Left,
    Right,
}

/// Renders rows as columns separated by two spaces, padded to the widest
/// cell (counted in characters), with a header row.
pub(super) fn table(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Written straight into one string (a listing of 100,000 backups makes
    // as many lines).
    let line_len: usize = widths.iter().map(|w| w + 2).sum::<usize>() + 1;
    let mut out = String::with_capacity(line_len * (rows.len() + 1));
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let start = out.len();
        let mut cells = cells.zip(header).enumerate().peekable();
        while let Some((i, (cell, (_, align)))) = cells.next() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = cells.peek().is_none();
            match align {
                Align::Left if last => out.push_str(cell),
                Align::Left => {
                    out.push_str(cell);
                    out.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(cell);
                }
            }
            if !last {
                out.push_str("  ");
            }
        }
        let kept = start + out[start..].trim_end().len();
        out.truncate(kept);
        out.push('\n');
    };
    line(&mut header.iter().map(|(h, _)| *h));
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn opt_count(n: Option<u64>, legacy: bool) -> String {
    match (n, legacy) {
        (_, true) => "0*".to_string(),
        (Some(n), _) => n.to_string(),
        (None, _) => "-".to_string(),
    }
}

fn status_symbol(s: Status) -> &'static str {
    crate::present::status_symbol(Some(s))
}

pub fn listing(store: &Store, listing: &BackupListing) -> String {
    let now = now_local();
    let mut out = String::new();
    // Stored sizes are shown only once a backup is stored compressed: a
    // store of plain backups lists as it always did.
    let compressed = listing
        .backups
        .iter()
        .any(|b| b.form != crate::store::codec::StoredForm::Plain);
    let total = if compressed {
        format!(
            "{} stored, {} as JSON: {}",
            human_size(listing.total_size),
            human_size(listing.total_plain_size),
            crate::present::savings(listing.total_size, listing.total_plain_size)
        )
    } else {
        format!("{} total", human_size(listing.total_size))
    };
    let _ = writeln!(
        out,
        "{} in {} ({total})",
        count_of(listing.backups.len(), "backup"),
        listing.dir.display(),
    );
    if listing.backups.is_empty() {
        let _ = writeln!(
            out,
            "no backups yet: `graphvault snapshot` makes one of {}",
            store.primary_path().display()
        );
    } else {
        let rows: Vec<Vec<String>> = listing
            .backups
            .iter()
            .map(|b| {
                let mut row = vec![
                    b.id.to_string(),
                    local_time(b.time),
                    age(b.time, now),
                    b.plain_size
                        .or(b.size.filter(|_| !compressed))
                        .map(human_size)
                        .unwrap_or_else(|| if b.size.is_some() { "?" } else { "missing" }.into()),
                ];
                if compressed {
                    // The size and the form in columns of their own: a size
                    // aligned on its unit, whatever the form's name.
                    row.push(b.size.map_or_else(|| "missing".into(), human_size));
                    row.push(b.form.name().to_string());
                }
                row.extend([
                    opt_count(b.node_count, b.legacy_counts),
                    opt_count(b.edge_count, b.legacy_counts),
                    b.checksum
                        .as_deref()
                        .map(short_checksum)
                        .unwrap_or_else(|| "-".into()),
                    b.notes.join("; "),
                ]);
                row
            })
            .collect();
        let mut columns = vec![
            ("ID", Align::Left),
            ("TIME", Align::Left),
            ("AGE", Align::Right),
            ("SIZE", Align::Right),
        ];
        if compressed {
            columns.extend([("STORED", Align::Right), ("FORM", Align::Left)]);
        }
        columns.extend([
            ("NODES", Align::Right),
            ("EDGES", Align::Right),
            ("CHECKSUM", Align::Left),
            ("NOTES", Align::Left),
        ]);
        out.push_str(&table(&columns, &rows));
        if listing.backups.iter().any(|b| b.legacy_counts) {
            out.push_str(
                "0* = the application's legacy meta, which always recorded 0 nodes and 0 edges\n",
            );
        }
    }
    if !listing.ignored.is_empty() {
        let _ = writeln!(
            out,
            "left alone (not graph backups): {}",
            listing
                .ignored
                .iter()
                .map(|name| crate::present::one_line(name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

pub fn compact(r: &crate::store::compact::CompactReport) -> String {
    let mut out = String::new();
    let deltas = if r.deltas {
        format!(", deltas on (a full backup every {})", r.full_every)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{}compression {}{deltas}, the newest {} kept plain: {} to convert, {} already so, {} skipped",
        if r.dry_run { "dry run: " } else { "" },
        r.compression.name(),
        r.keep_plain,
        r.converted.len(),
        r.unchanged,
        r.skipped.len()
    );
    for s in &r.settled {
        let forms: Vec<&str> = s.trashed.iter().map(|f| f.name()).collect();
        let _ = writeln!(
            out,
            "  {} interrupted conversion {}: its {} file kept, the {} copy {}",
            s.id,
            if r.dry_run { "to finish" } else { "finished" },
            s.kept.name(),
            forms.join(" and "),
            if r.dry_run {
                "goes to the trash"
            } else {
                "moved to the trash"
            }
        );
    }
    for c in &r.converted {
        let after = c
            .size_after
            .map(|s| format!(" -> {}", human_size(s)))
            .unwrap_or_default();
        let base = c
            .base
            .as_ref()
            .map(|b| format!(" (base {b})"))
            .unwrap_or_default();
        let trash = c
            .trash_id
            .as_deref()
            .map(|t| format!(" (old file in the trash as {t})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {} -> {}{base}: {}{after}{trash}",
            c.id,
            c.from.name(),
            c.to.name(),
            human_size(c.size_before)
        );
    }
    for s in &r.skipped {
        let _ = writeln!(out, "  skipped {}: {}", s.id, s.reason);
    }
    if r.dry_run {
        if !r.converted.is_empty() || !r.settled.is_empty() {
            out.push_str("nothing was written; `graphvault compact --apply` converts them (bases first), verifying each before the old file goes to the trash\n");
        }
    } else {
        let _ = writeln!(
            out,
            "backups: {} before, {} now",
            human_size(r.bytes_before),
            human_size(r.bytes_after)
        );
    }
    out
}

pub fn settings(report: &crate::store::settings::SettingsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "settings of this store ({})", report.path.display());
    if let Some(problem) = &report.problem {
        let _ = writeln!(
            out,
            "the config cannot be used ({problem}): the defaults are shown and in force for reading"
        );
    }
    let rows: Vec<Vec<String>> = report
        .settings
        .iter()
        .map(|s| {
            vec![
                s.key.to_string(),
                s.value.clone(),
                if s.value == s.default {
                    "(default)".to_string()
                } else {
                    format!("(default {})", s.default)
                },
                s.about.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            ("KEY", Align::Left),
            ("VALUE", Align::Left),
            ("", Align::Left),
            ("MEANING", Align::Left),
        ],
        &rows,
    ));
    out.push_str("change one with `graphvault config set KEY VALUE`\n");
    out
}

pub fn setting_change(change: &crate::store::settings::SettingChange) -> String {
    if change.changed {
        format!(
            "{}: {} -> {} (in {})\n",
            change.key,
            change.old,
            change.new,
            change.path.display()
        )
    } else {
        format!(
            "{} is already {}: nothing was changed\n",
            change.key, change.new
        )
    }
}

pub fn file_report(r: &FileReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}  {}",
        status_symbol(r.status),
        r.target,
        r.summary()
    );
    let _ = writeln!(out, "  file: {}", r.path.display());
    if let Some(m) = &r.meta_path {
        let _ = writeln!(out, "  meta: {}", m.display());
    }
    for l in &r.levels {
        let mark = match l.outcome {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
            Outcome::Skipped => "skip",
        };
        let _ = writeln!(out, "  {:<12} {mark}  {}", l.level.name(), l.detail);
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}

pub fn verify_all(r: &VerifyAllReport) -> String {
    let rows: Vec<Vec<String>> = r
        .files
        .iter()
        .map(|f| {
            vec![
                format!("{} {}", status_symbol(f.status), f.word()),
                f.target.to_string(),
                f.size.map(human_size).unwrap_or_else(|| "-".into()),
                f.failed_level
                    .map(|l| l.name().to_string())
                    .unwrap_or_default(),
                f.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            ("STATUS", Align::Left),
            ("FILE", Align::Left),
            ("SIZE", Align::Right),
            ("LEVEL", Align::Left),
            ("REASON", Align::Left),
        ],
        &rows,
    );
    // `corrupt` counts every file that failed; the ones whose read failed are named apart.
    let unreadable = r.files.iter().filter(|f| f.failed_unread()).count();
    let failed = match unreadable {
        0 => format!("{} corrupt", r.corrupt),
        n => format!("{} corrupt, {n} unreadable", r.corrupt.saturating_sub(n)),
    };
    let _ = writeln!(
        out,
        "{} valid, {} unverified, {failed}, {} missing; {} in {:.0} ms{}",
        r.valid,
        r.unverified,
        r.missing,
        human_size(r.bytes),
        r.elapsed_ms,
        if r.cancelled { " (cancelled)" } else { "" }
    );
    out
}

pub fn save(r: &SaveReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "saved {} ({} nodes, {} edges, {}) sha256 {}",
        r.primary_path.display(),
        r.node_count,
        r.edge_count,
        human_size(r.size),
        r.checksum
    );
    let _ = writeln!(out, "backup {} at {}", r.backup_id, r.backup_path.display());
    for kept in &r.evidence {
        let _ = writeln!(
            out,
            "kept the replaced primary (no backup held its bytes) at {}",
            kept.display()
        );
    }
    if let Some(rot) = &r.rotation {
        let _ = writeln!(
            out,
            "retention: kept {}, moved {} to the trash{}",
            rot.plan.kept,
            rot.trashed.len(),
            trash_note(rot)
        );
        if let Some(w) = &rot.plan.clock_warning {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    if let Some(e) = &r.rotation_error {
        let _ = writeln!(
            out,
            "warning: retention after the save failed (the save stands): {e}"
        );
    }
    if let Some(w) = &r.named_behind {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

pub fn snapshot(r: &SnapshotReport) -> String {
    let warning = r
        .named_behind
        .as_ref()
        .map(|w| format!("warning: {w}\n"))
        .unwrap_or_default();
    format!(
        "snapshot {} of the primary ({}, {} nodes, {} edges, primary was {}) at {}\n{warning}",
        r.backup_id,
        human_size(r.size),
        r.node_count
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".into()),
        r.edge_count
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".into()),
        r.primary_status.name(),
        r.backup_path.display()
    )
}

fn diff_lines(out: &mut String, d: &crate::graph::GraphDiff) {
    let list = |ids: &[String]| {
        let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
        let more = ids.len().saturating_sub(10);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    for (what, ids) in [
        ("nodes added", &d.nodes_added),
        ("nodes removed", &d.nodes_removed),
        ("nodes changed", &d.nodes_changed),
        ("edges added", &d.edges_added),
        ("edges removed", &d.edges_removed),
        ("edges changed", &d.edges_changed),
    ] {
        let _ = writeln!(out, "  {what:<14} {:>6}  {}", ids.len(), list(ids));
    }
}

/// What replacing the primary changes (its diff, or why there is none)
/// and, for a plan, what is kept of it: as the store's report says.
fn replacing(
    out: &mut String,
    which: &str,
    diff: Option<&crate::graph::GraphDiff>,
    no_diff: Option<&str>,
    keeps: &crate::store::restore::KeptPrimary,
    dry_run: bool,
) {
    match diff {
        Some(d) => {
            let _ = writeln!(out, "changes from the {which} primary:");
            diff_lines(out, d);
        }
        None => {
            let why = no_diff.unwrap_or("the primary could not be compared");
            let _ = writeln!(out, "no diff: {why}");
        }
    }
    if dry_run {
        let _ = writeln!(out, "{}", keeps.describe(true));
    }
}

pub fn restore(r: &RestoreReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run {
        "would restore"
    } else {
        "restored"
    };
    let _ = writeln!(
        out,
        "{verb} {} as the primary: {} nodes, {} edges, sha256 {}",
        r.backup_id, r.node_count, r.edge_count, r.checksum
    );
    let _ = writeln!(out, "previous primary: {}", r.previous_primary.summary());
    replacing(
        &mut out,
        "previous",
        r.diff.as_ref(),
        r.no_diff.as_deref(),
        &r.keeps,
        r.dry_run,
    );
    for e in &r.evidence {
        let _ = writeln!(out, "kept the previous file as {}", e.display());
    }
    if let Some(after) = &r.after {
        let _ = writeln!(out, "re-verified the new primary: {}", after.summary());
    }
    if r.dry_run {
        out.push_str("dry run: nothing was written\n");
    }
    out
}

pub fn rotate(r: &RotateReport) -> String {
    let rows: Vec<Vec<String>> = r
        .plan
        .decisions
        .iter()
        .map(|d| {
            vec![
                match d.action {
                    Action::Keep => "keep".to_string(),
                    Action::Remove => "TRASH".to_string(),
                },
                d.id.to_string(),
                d.reasons.join("; "),
            ]
        })
        .collect();
    let mut out = table(
        &[
            ("ACTION", Align::Left),
            ("BACKUP", Align::Left),
            ("REASON", Align::Left),
        ],
        &rows,
    );
    if let Some(w) = &r.plan.clock_warning {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.dry_run {
        let _ = writeln!(
            out,
            "{} kept ({} valid), {} would be moved to the trash (kept there {} before a later save or rotation purges it): dry run, pass --apply to move them",
            r.plan.kept, r.plan.kept_valid, r.plan.removed, r.trash_grace
        );
    } else {
        let _ = writeln!(
            out,
            "{} kept ({} valid), moved {} to the trash{}",
            r.plan.kept,
            r.plan.kept_valid,
            r.trashed.len(),
            trash_note(r)
        );
    }
    out
}

/// After a rotation: how long the trash keeps what it got, how to undo it,
/// and what was purged.
fn trash_note(r: &RotateReport) -> String {
    let mut note = String::new();
    if !r.trashed.is_empty() {
        let ids: Vec<String> = r.trashed.iter().map(|t| t.id.to_string()).collect();
        let _ = write!(
            note,
            " for {} (undo: `graphvault trash restore {}`)",
            r.trash_grace,
            ids.join(" ")
        );
    }
    if !r.purged.is_empty() {
        let _ = write!(
            note,
            "; purged {} past their grace period from the trash ({})",
            crate::present::count_of(r.purged.len(), "item"),
            human_size(r.purged.iter().map(|p| p.size).sum())
        );
    }
    if let Some(held) = &r.purge_note {
        let _ = write!(note, "; {held}");
    }
    note
}

/// The line `list` adds about what is kept aside.
pub fn kept_aside(trash: &TrashListing, evidence: &EvidenceListing) -> String {
    format!(
        "trash: {}, {} (purged {} after trashing; `graphvault trash`); evidence: {} kept primar{}, {} (`graphvault evidence`)\n",
        crate::present::count_of(trash.items.len(), "backup"),
        human_size(trash.total_size),
        trash.grace,
        evidence.items.len(),
        if evidence.items.len() == 1 {
            "y"
        } else {
            "ies"
        },
        human_size(evidence.total_size)
    )
}

fn when(t: Option<chrono::DateTime<chrono::FixedOffset>>) -> String {
    t.map(|t| local_time(t.naive_local()))
        .unwrap_or_else(|| "-".to_string())
}

pub fn trash(l: &TrashListing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} in {} ({}); each stays {} before a later save or rotation purges it",
        crate::present::count_of(l.items.len(), "item"),
        l.dir.display(),
        human_size(l.total_size),
        l.grace
    );
    if let Some(problem) = &l.grace_problem {
        let _ = writeln!(
            out,
            "! the grace period above is the default: the store config cannot be used ({problem}); \
             nothing is purged by expiry until it is fixed"
        );
    }
    if l.items.is_empty() {
        return out;
    }
    let rows: Vec<Vec<String>> = l
        .items
        .iter()
        .map(|i| {
            let mut reason = i.operation.clone().unwrap_or_default();
            if !i.reasons.is_empty() {
                let _ = write!(reason, ": {}", i.reasons.join("; "));
            }
            for n in &i.notes {
                let _ = write!(reason, " [{n}]");
            }
            vec![
                i.id.to_string(),
                human_size(i.size),
                when(i.trashed_at),
                if i.expired {
                    "expired".to_string()
                } else {
                    when(i.expires_at)
                },
                reason,
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            ("ID", Align::Left),
            ("SIZE", Align::Right),
            ("TRASHED", Align::Left),
            ("EXPIRES", Align::Left),
            ("REASON", Align::Left),
        ],
        &rows,
    ));
    out.push_str("bring one back with `graphvault trash restore ID`\n");
    out
}

pub fn trash_restore(r: &TrashRestoreReport) -> String {
    let mut out = String::new();
    for i in &r.restored {
        let _ = writeln!(
            out,
            "{} {} is back in backups/ as {} ({})",
            status_symbol(i.status),
            i.id,
            i.backup_id,
            match &i.reason {
                Some(why) => format!("{}: {why}", i.status.name()),
                None => i.status.name().to_string(),
            }
        );
    }
    out
}

pub fn trash_restore_plan(p: &TrashRestorePlan) -> String {
    let mut out = String::new();
    for i in &p.items {
        let counts = match (i.node_count, i.edge_count) {
            (Some(n), Some(e)) => format!(
                ", {}, {}",
                crate::present::count_of(n, "node"),
                crate::present::count_of(e, "edge")
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{} {} would go back to backups/ as {} ({}{counts}; {})",
            status_symbol(i.status),
            i.id,
            i.backup_id,
            human_size(i.size),
            match &i.reason {
                Some(why) => format!("{}: {why}", i.status.name()),
                None => i.status.name().to_string(),
            }
        );
    }
    let _ = writeln!(
        out,
        "dry run: nothing was written; run it without --dry-run to bring {} back",
        if p.items.len() == 1 { "it" } else { "them" }
    );
    out
}

pub fn trash_empty(r: &TrashEmptyReport) -> String {
    let mut out = String::new();
    for p in &r.purged {
        let _ = writeln!(
            out,
            "{} {}  {}  trashed {}",
            if r.dry_run { "would purge" } else { "purged" },
            p.id,
            human_size(p.size),
            when(p.trashed_at)
        );
    }
    let _ = writeln!(
        out,
        "{} {}, {}; {} left in the trash{}",
        if r.dry_run { "would purge" } else { "purged" },
        crate::present::count_of(r.purged.len(), "item"),
        human_size(r.freed),
        r.kept,
        if r.dry_run {
            ": dry run, pass --apply to purge them for good"
        } else {
            ""
        }
    );
    if let Some(note) = &r.clock_note {
        let _ = writeln!(out, "{note}");
    }
    out
}

pub fn evidence(l: &EvidenceListing) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} kept primar{} in {} ({})",
        l.items.len(),
        if l.items.len() == 1 { "y" } else { "ies" },
        l.dir.display(),
        human_size(l.total_size)
    );
    if l.items.is_empty() {
        return out;
    }
    let rows: Vec<Vec<String>> = l
        .items
        .iter()
        .map(|i| {
            let status = match (i.status, &i.status_reason) {
                (Some(s), Some(why)) => format!("{} {}: {why}", status_symbol(s), s.name()),
                (Some(s), None) => format!("{} {}", status_symbol(s), s.name()),
                (None, _) => "-".to_string(),
            };
            vec![
                i.id.to_string(),
                i.kept_at.map(local_time).unwrap_or_else(|| "-".into()),
                i.size.map(human_size).unwrap_or_else(|| "missing".into()),
                i.reason.clone(),
                status,
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            ("ID", Align::Left),
            ("KEPT", Align::Left),
            ("SIZE", Align::Right),
            ("WHY", Align::Left),
            ("STATUS", Align::Left),
        ],
        &rows,
    ));
    out.push_str(
        "put one back as the primary with `graphvault evidence restore ID --dry-run`, then without --dry-run\n",
    );
    out
}

pub fn evidence_restore(r: &EvidenceRestoreReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run {
        "would restore"
    } else {
        "restored"
    };
    let _ = writeln!(
        out,
        "{verb} evidence {} ({}) as the primary: {} nodes, {} edges",
        r.evidence.id, r.evidence.reason, r.node_count, r.edge_count
    );
    let _ = writeln!(out, "current primary: {}", r.previous_primary.summary());
    replacing(
        &mut out,
        "current",
        r.diff.as_ref(),
        r.no_diff.as_deref(),
        &r.keeps,
        r.dry_run,
    );
    if let (Some(id), Some(restore)) = (&r.backup_id, &r.restore) {
        let _ = writeln!(out, "saved the evidence as backup {id}, then restored it");
        for e in &restore.evidence {
            let _ = writeln!(out, "kept the replaced file as {}", e.display());
        }
        if let Some(after) = &restore.after {
            let _ = writeln!(out, "re-verified the new primary: {}", after.summary());
        }
    }
    if r.dry_run {
        out.push_str("dry run: nothing was written\n");
    }
    out
}

pub fn recover(r: &RecoveryReport) -> String {
    let mut out = String::new();
    match &r.source {
        Source::Primary => {
            let _ = writeln!(
                out,
                "primary is usable ({}): {} nodes, {} edges; nothing to recover",
                r.primary.word(),
                r.node_count,
                r.edge_count
            );
        }
        Source::Backup(id) => {
            let _ = writeln!(
                out,
                "primary failed: {}",
                r.primary_failure.as_deref().unwrap_or("")
            );
            let verb = if r.dry_run {
                "would recover"
            } else {
                "recovered"
            };
            let _ = writeln!(
                out,
                "{verb} from {id}: {} nodes, {} edges",
                r.node_count, r.edge_count
            );
        }
        Source::Nothing => {
            let _ = writeln!(
                out,
                "NOTHING RECOVERABLE: the primary and every backup failed; nothing was written or deleted"
            );
            let _ = writeln!(out, "primary: {}", r.primary.summary());
        }
    }
    if !r.candidates.is_empty() {
        let _ = writeln!(out, "backups checked, newest first:");
        for c in &r.candidates {
            let _ = writeln!(
                out,
                "  {} {}  {}",
                status_symbol(c.status),
                c.target,
                c.summary()
            );
        }
    }
    if let Some(restore) = &r.restore {
        for e in &restore.evidence {
            let _ = writeln!(out, "kept the damaged file as {}", e.display());
        }
        if let Some(after) = &restore.after {
            let _ = writeln!(out, "re-verified the new primary: {}", after.summary());
        }
    }
    if !r.unverified_fallbacks.is_empty() {
        let ids: Vec<String> = r
            .unverified_fallbacks
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(
            out,
            "backups without a meta that parse (use `graphvault restore ID --allow-unverified`): {}",
            ids.join(", ")
        );
    }
    if let Some(lost) = &r.lost {
        lost_lines(&mut out, lost, r.dry_run, warns_of_stale_meta(&r.warnings));
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}{}", warning_hint(w));
    }
    if r.dry_run && matches!(r.source, Source::Backup(_)) {
        out.push_str("dry run: nothing was written\n");
    }
    out
}

/// What a recovery lost, as the store worked it out.
fn lost_lines(out: &mut String, lost: &Lost, dry_run: bool, stale: bool) {
    let head = if dry_run { "would lose" } else { "lost" };
    match lost {
        Lost::SameChecksum => {
            let _ = writeln!(out, "{head}: {}", Lost::same_checksum_text(stale));
        }
        Lost::SameGraph => {
            let _ = writeln!(
                out,
                "{head}: nothing (the replaced primary has the same nodes and edges)"
            );
        }
        Lost::Changes {
            diff,
            primary_damaged,
        } => {
            let _ = writeln!(
                out,
                "{head}: from the replaced primary to the restored graph (removed: lost; changed: an older version is back):"
            );
            diff_lines(out, diff);
            if *primary_damaged {
                let _ = writeln!(
                    out,
                    "  the replaced primary failed verification: a changed entry may be the damage itself"
                );
            }
        }
        Lost::Unknown {
            reason,
            recorded_nodes,
            recorded_edges,
        } => {
            let _ = writeln!(
                out,
                "{head}: unknown ({reason}); anything saved after the restored backup is only in the kept file"
            );
            if let (Some(n), Some(e)) = (recorded_nodes, recorded_edges) {
                let _ = writeln!(out, "  its meta recorded {n} nodes and {e} edges");
            }
        }
    }
}

/// The command that helps with a warning (the store names none).
fn warning_hint(w: &RecoveryWarning) -> String {
    match w {
        RecoveryWarning::FutureDated { .. } | RecoveryWarning::OlderThanNewestValid { .. } => {
            "; check `graphvault list` and restore another by id if needed".to_string()
        }
        RecoveryWarning::RollsForward { primary_had, .. } => format!(
            "; if that rollback was deliberate, run `graphvault restore {primary_had}` to go back to it"
        ),
        RecoveryWarning::StaleMeta {
            kept_at: Some(kept),
        } => format!(
            "; compare it with `graphvault diff`, and if it is the graph you want, bring it back with `graphvault save --from {}`",
            kept.display()
        ),
        _ => String::new(),
    }
}

pub fn diff(r: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}, {}) -> {} ({}, {})",
        r.old,
        human_size(r.old_size),
        r.old_file.word(),
        r.new,
        human_size(r.new_size),
        r.new_file.word()
    );
    diff_lines(&mut out, &r.diff);
    out
}

pub fn corrupt(r: &CorruptionReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", r.kind.name(), r.action);
    match r.expected_level {
        Some(l) => {
            let _ = writeln!(
                out,
                "expected to be caught at the {} level (try `graphvault verify`)",
                l.name()
            );
        }
        None => {
            let _ = writeln!(out, "not detectable as corruption by verification");
        }
    }
    if let Some(n) = &r.note {
        let _ = writeln!(out, "{n}");
    }
    for p in &r.evidence {
        let _ = writeln!(
            out,
            "kept the primary first (no backup held its bytes) at {}",
            p.display()
        );
    }
    out
}
