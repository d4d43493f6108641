//! Progress of long commands on stderr (`verify --all`, `recover`, `push`,
//! `rotate`): bytes done with their rate and the time left, drawn
//! by `indicatif`, and only on a terminal: a pipe, a log file or `--json`
//! gets nothing, so stdout and captured stderr stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar measured in bytes, with a message for the files done.
pub(super) struct Progress {
    bar: ProgressBar,
    what: &'static str,
}

impl Progress {
    /// A bar for `what` ("verifying files"), hidden unless stderr is a terminal
    /// and the output is text.
    pub(super) fn new(what: &'static str, json: bool) -> Progress {
        Progress::styled(
            what,
            json,
            "{msg} [{bar:24}] {binary_bytes}/{binary_total_bytes} · {binary_bytes_per_sec} · ETA {eta}",
        )
    }

    /// A bar counting files (a rotation's steps, whose moves have no
    /// bytes to count).
    pub(super) fn files(what: &'static str, json: bool) -> Progress {
        Progress::styled(what, json, "{msg} [{bar:24}] {per_sec} · ETA {eta}")
    }

    fn styled(what: &'static str, json: bool, template: &str) -> Progress {
        let target = if json || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        // The template is fixed text: it cannot fail to parse, but keep
        // the default style rather than panic if it ever did.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("█▌░"));
        }
        Progress { bar, what }
    }

    /// `done` of `total` files (or backups), `bytes` of `bytes_total`.
    pub(super) fn update(&self, done: usize, total: usize, bytes: u64, bytes_total: u64) {
        self.bar.set_length(bytes_total);
        self.bar.set_position(bytes);
        self.bar
            .set_message(format!("{} {done}/{total}", self.what));
    }

    /// Progress of a verification of many files (the store's callback).
    pub(super) fn verify(&self, p: &crate::store::verify::VerifyProgress) {
        self.update(p.done, p.total, p.bytes_done, p.bytes_total);
    }

    /// Progress of a rotation: backups read, then moved to the trash.
    pub(super) fn rotate(&self, p: &crate::store::rotate::RotateProgress) {
        let step = match p.step {
            crate::store::rotate::RotateStep::Judging => "checking metas",
            crate::store::rotate::RotateStep::Reading => "reading backups",
            crate::store::rotate::RotateStep::Trashing => "moving to the trash",
        };
        self.bar.set_length(p.total as u64);
        self.bar.set_position(p.done as u64);
        self.bar
            .set_message(format!("{} {}/{}", step, p.done, p.total));
    }

    /// Takes the bar off the screen before the report is printed.
    pub(super) fn finish(self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // On an error path too: never leave a half line above the message.
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}
