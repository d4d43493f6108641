//! The backups the UI knows about, with what verification said of each,
//! the filter, the selection and the marks. Kept in memory so that drawing
//! never touches the disk; only the visible rows are ever turned into
//! widgets.

use std::collections::HashMap;

use crate::present::local_time;
use crate::store::list::BackupInfo;
use crate::store::names::BackupId;
use crate::store::verify::{Depth, FileReport, Status};

/// One backup and its latest verification.
#[derive(Debug, Clone)]
pub struct BackupRow {
    pub info: BackupInfo,
    pub report: Option<FileReport>,
    /// Lower-case id and local time, what the filter matches against.
    search: String,
}

impl BackupRow {
    pub fn new(info: BackupInfo) -> BackupRow {
        let search = format!("{} {}", info.id, local_time(info.time)).to_lowercase();
        BackupRow {
            info,
            report: None,
            search,
        }
    }

    pub fn status(&self) -> Option<Status> {
        self.report.as_ref().map(|r| r.status)
    }
}

/// What a file's one status becomes when `new` arrives: the newest
/// verdict, unless it only hashed bytes that a deeper verdict already
/// judged (same checksum): a valid checksum does not undo a failed parse,
/// nor does it make a full check's "valid" a checksum-only one.
pub fn latest_and_deepest(old: Option<FileReport>, new: FileReport) -> FileReport {
    match old {
        Some(old)
            if new.depth == Depth::Checksum
                && old.depth == Depth::Full
                && new.status == Status::Valid
                && new.actual_checksum.is_some()
                && new.actual_checksum == old.actual_checksum =>
        {
            old
        }
        _ => new,
    }
}

/// Running totals over the rows' verifications, kept up to date as reports
/// arrive so that the header never scans 10,000 rows per frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub verified: usize,
    pub valid: usize,
    pub failed: usize,
}

impl Tally {
    fn add(&mut self, status: Option<Status>, sign: isize) {
        let Some(status) = status else { return };
        let step = |n: &mut usize| *n = n.saturating_add_signed(sign);
        step(&mut self.verified);
        match status {
            Status::Valid => step(&mut self.valid),
            Status::Corrupt | Status::Missing => step(&mut self.failed),
            Status::Unverified => {}
        }
    }
}

/// The order of the table's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Newest first, by the time in the id (the store's own order).
    #[default]
    Newest,
    Oldest,
    /// Largest data file first.
    Size,
    /// Most nodes first.
    Nodes,
}

impl SortBy {
    /// The next order, for the key that cycles them.
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Newest => SortBy::Oldest,
            SortBy::Oldest => SortBy::Size,
            SortBy::Size => SortBy::Nodes,
            SortBy::Nodes => SortBy::Newest,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortBy::Newest => "newest first",
            SortBy::Oldest => "oldest first",
            SortBy::Size => "largest first",
            SortBy::Nodes => "most nodes first",
        }
    }
}

/// The word a status filter matches: what the status column says.
fn status_name(row: &BackupRow) -> &'static str {
    match &row.report {
        None => "unchecked",
        Some(r) => r.word(),
    }
}

/// The table's model.
#[derive(Debug, Clone, Default)]
pub struct BackupTable {
    /// Every backup, newest first.
    pub rows: Vec<BackupRow>,
    index: HashMap<BackupId, usize>,
    /// Indices into `rows` that pass the filter, in order.
    pub visible: Vec<usize>,
    /// Position in `visible`.
    pub selected: usize,
    /// First visible position drawn.
    pub offset: usize,
    /// Backups marked for a diff (at most two).
    pub marks: Vec<BackupId>,
    pub filter: String,
    pub sort: SortBy,
    pub tally: Tally,
    pub total_size: u64,
    /// Reports for backups this listing does not hold yet: a file written by another
    /// process after the last listing and verified (`V` reads the directory itself)
    /// before the UI read the store again. The next listing takes them.
    unlisted: HashMap<BackupId, FileReport>,
}

impl BackupTable {
    /// Replaces the listing, keeping what is known of backups that are still
    /// there (backups are never rewritten in place, so a report stays
    /// true), the selection on the same backup when it still exists, and
    /// the marks that still exist.
    pub fn replace(&mut self, backups: Vec<BackupInfo>) {
        let selected_id = self.selected_id().cloned();
        let mut old: HashMap<BackupId, FileReport> = HashMap::new();
        for row in self.rows.drain(..) {
            if let Some(r) = row.report {
                old.insert(row.info.id, r);
            }
        }
        self.tally = Tally::default();
        self.total_size = 0;
        self.rows = backups
            .into_iter()
            .map(|info| {
                let mut row = BackupRow::new(info);
                let unlisted = self.unlisted.remove(&row.info.id);
                row.report = match (old.remove(&row.info.id), unlisted) {
                    (earlier, Some(later)) => Some(latest_and_deepest(earlier, later)),
                    (earlier, None) => earlier,
                };
                self.tally.add(row.status(), 1);
                self.total_size += row.info.size.unwrap_or(0);
                row
            })
            .collect();
        // What is still not listed is gone (deleted, or moved to the trash).
        self.unlisted.clear();
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.info.id.clone(), i))
            .collect();
        self.marks.retain(|m| self.index.contains_key(m));
        self.refilter();
        if let Some(id) = selected_id {
            self.select_id(&id);
        }
    }

    /// The rows that pass the filter, in the chosen order. The filter
    /// matches part of an id or a local time, or a status word (`corrupt`,
    /// `unreadable`, `valid`, `unverified`, `missing`, `unchecked`).
    fn refilter(&mut self) {
        let needle = self.filter.trim().to_lowercase();
        let mut visible: Vec<usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                needle.is_empty() || r.search.contains(&needle) || status_name(r) == needle
            })
            .map(|(i, _)| i)
            .collect();
        let rows = &self.rows;
        let nodes = |i: usize| {
            let r = &rows[i];
            r.report
                .as_ref()
                .and_then(|x| x.node_count)
                .map(|n| n as u64)
                .or(r.info.node_count)
        };
        match self.sort {
            SortBy::Newest => {}
            SortBy::Oldest => visible.reverse(),
            SortBy::Size => visible.sort_by_key(|&i| std::cmp::Reverse(rows[i].info.size)),
            SortBy::Nodes => visible.sort_by_key(|&i| std::cmp::Reverse(nodes(i))),
        }
        self.visible = visible;
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }

    /// Orders the rows by `sort`, keeping the selected backup selected.
    pub fn set_sort(&mut self, sort: SortBy) {
        let keep = self.selected_id().cloned();
        self.sort = sort;
        self.refilter();
        if let Some(id) = keep {
            self.select_id(&id);
        }
    }

    /// Selects the newest backup that verified valid at every level, if
    /// one is shown; true when it did.
    pub fn select_newest_valid(&mut self) -> bool {
        let newest = self
            .visible
            .iter()
            .enumerate()
            .filter(|&(_, &i)| {
                self.rows[i]
                    .report
                    .as_ref()
                    .is_some_and(|r| r.status == Status::Valid && r.depth == Depth::Full)
            })
            .max_by_key(|&(_, &i)| &self.rows[i].info.id)
            .map(|(pos, _)| pos);
        match newest {
            Some(pos) => {
                self.selected = pos;
                true
            }
            None => false,
        }
    }

    /// Shows only backups whose id or local time contains `filter`.
    pub fn set_filter(&mut self, filter: &str) {
        let keep = self.selected_id().cloned();
        self.filter = filter.trim().to_string();
        self.selected = 0;
        self.offset = 0;
        self.refilter();
        if let Some(id) = keep {
            self.select_id(&id);
        }
    }

    pub fn select_id(&mut self, id: &BackupId) -> bool {
        let Some(&row) = self.index.get(id) else {
            return false;
        };
        match self.visible.iter().position(|&i| i == row) {
            Some(pos) => {
                self.selected = pos;
                true
            }
            None => false,
        }
    }

    pub fn selected_row(&self) -> Option<&BackupRow> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.rows.get(i))
    }

    pub fn selected_id(&self) -> Option<&BackupId> {
        self.selected_row().map(|r| &r.info.id)
    }

    pub fn row(&self, id: &BackupId) -> Option<&BackupRow> {
        self.index.get(id).and_then(|&i| self.rows.get(i))
    }

    /// Records a verification; false when the backup is not listed.
    pub fn set_report(&mut self, report: FileReport) -> bool {
        let crate::store::verify::Target::Backup(id) = &report.target else {
            return false;
        };
        let Some(&i) = self.index.get(id) else {
            let earlier = self.unlisted.remove(id);
            self.unlisted
                .insert(id.clone(), latest_and_deepest(earlier, report));
            return false;
        };
        let row = &mut self.rows[i];
        self.tally.add(row.status(), -1);
        let report = latest_and_deepest(row.report.take(), report);
        self.tally.add(Some(report.status), 1);
        row.report = Some(report);
        true
    }

    /// Moves the selection by `delta` rows, clamped to the list.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.visible.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    pub fn select_first(&mut self) {
        self.selected = 0;
    }

    pub fn select_last(&mut self) {
        self.selected = self.visible.len().saturating_sub(1);
    }

    /// Scrolls so that the selection is within `page` rows from `offset`.
    pub fn scroll_into_view(&mut self, page: usize) {
        self.offset = visible_offset(self.offset, self.selected, page, self.visible.len());
    }

    /// Marks or unmarks the selected backup; a third mark replaces the
    /// oldest one.
    pub fn toggle_mark(&mut self) {
        let Some(id) = self.selected_id().cloned() else {
            return;
        };
        if let Some(pos) = self.marks.iter().position(|m| *m == id) {
            self.marks.remove(pos);
        } else {
            if self.marks.len() == 2 {
                self.marks.remove(0);
            }
            self.marks.push(id);
        }
    }
}

/// The first row to draw so that `selected` shows in a window of `page`
/// rows, moving `offset` as little as possible.
pub fn visible_offset(offset: usize, selected: usize, page: usize, len: usize) -> usize {
    let page = page.max(1);
    let mut offset = offset.min(len.saturating_sub(page));
    if selected < offset {
        offset = selected;
    } else if selected >= offset + page {
        offset = selected + 1 - page;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::tests::fixtures;

    #[test]
    fn the_window_follows_the_selection() {
        assert_eq!(visible_offset(0, 0, 10, 100), 0);
        assert_eq!(visible_offset(0, 9, 10, 100), 0);
        assert_eq!(visible_offset(0, 10, 10, 100), 1);
        assert_eq!(visible_offset(50, 20, 10, 100), 20);
        assert_eq!(visible_offset(95, 99, 10, 100), 90);
        assert_eq!(visible_offset(3, 0, 10, 5), 0);
    }

    #[test]
    fn replace_keeps_reports_selection_and_marks_of_backups_still_there() {
        let mut t = BackupTable::default();
        let listing = fixtures::listing(6);
        t.replace(listing.clone());
        t.move_by(2);
        let id = t.selected_id().cloned().expect("a selection");
        t.toggle_mark();
        assert!(t.set_report(fixtures::report_for(&id, Status::Corrupt)));
        assert_eq!(
            t.tally,
            Tally {
                verified: 1,
                valid: 0,
                failed: 1
            }
        );
        // The newest backup went away: everything shifts but stays attached.
        t.replace(listing[1..].to_vec());
        assert_eq!(t.selected_id(), Some(&id));
        assert_eq!(t.marks, vec![id.clone()]);
        assert_eq!(
            t.row(&id).and_then(BackupRow::status),
            Some(Status::Corrupt)
        );
        assert_eq!(t.tally.failed, 1);
    }

    #[test]
    fn a_new_report_replaces_the_old_one_in_the_tally() {
        let mut t = BackupTable::default();
        t.replace(fixtures::listing(3));
        let id = t.rows[0].info.id.clone();
        t.set_report(fixtures::report_for(&id, Status::Corrupt));
        t.set_report(fixtures::report_for(&id, Status::Valid));
        assert_eq!(
            t.tally,
            Tally {
                verified: 1,
                valid: 1,
                failed: 0
            }
        );
    }

    #[test]
    fn the_filter_matches_ids_and_local_dates() {
        let mut t = BackupTable::default();
        t.replace(fixtures::listing(40));
        let day = crate::present::local_time(t.rows[5].info.time)[..10].to_string();
        t.set_filter(&day);
        assert!(!t.visible.is_empty());
        assert!(
            t.visible
                .iter()
                .all(|&i| local_time(t.rows[i].info.time).starts_with(&day))
        );
        t.set_filter("GRAPH_");
        assert_eq!(t.visible.len(), 40);
        t.set_filter("no such thing");
        assert!(t.visible.is_empty());
        assert!(t.selected_row().is_none());
        t.move_by(1);
        assert_eq!(t.selected, 0);
    }

    #[test]
    fn a_file_that_could_not_be_read_is_filtered_as_unreadable_not_corrupt() {
        let mut t = BackupTable::default();
        t.replace(fixtures::listing(3));
        let (denied, damaged) = (t.rows[0].info.id.clone(), t.rows[1].info.id.clone());
        let mut report = fixtures::report_for(&denied, Status::Corrupt);
        report.unreadable = true;
        t.set_report(report);
        t.set_report(fixtures::report_for(&damaged, Status::Corrupt));
        t.set_filter("unreadable");
        assert_eq!(t.selected_id(), Some(&denied));
        assert_eq!(t.visible.len(), 1);
        t.set_filter("corrupt");
        assert_eq!(t.selected_id(), Some(&damaged));
        assert_eq!(t.visible.len(), 1);
    }

    #[test]
    fn a_third_mark_replaces_the_oldest() {
        let mut t = BackupTable::default();
        t.replace(fixtures::listing(5));
        for _ in 0..3 {
            t.toggle_mark();
            t.move_by(1);
        }
        let ids: Vec<_> = t.rows[1..3].iter().map(|r| r.info.id.clone()).collect();
        assert_eq!(t.marks, ids);
        t.move_by(-1);
        t.toggle_mark();
        assert_eq!(t.marks, vec![ids[0].clone()]);
    }
}
