//! Everything that can change the UI's state, as one enum: key presses are
//! turned into these by the keymap, worker results arrive as
//! [`Action::Worker`], and [`super::app::App::update`] is the only function
//! that applies them.

use chrono::NaiveDateTime;
use crossterm::event::KeyEvent;

use super::worker::Event;

/// One thing the UI is asked to do.
#[derive(Debug, Clone)]
pub enum Action {
    Quit,
    /// Selection or scroll movement; its meaning depends on what has focus.
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Help,
    /// Details of the selected backup (a popup).
    Details,
    /// Details of the primary (a popup).
    PrimaryDetails,
    /// Close the popup or step back (Esc).
    Close,
    /// Cancel what runs (verify all) or clear the filter.
    Cancel,
    OpenFilter,
    /// Enter: apply, accept, activate the focused button, go to the next step.
    Submit,
    /// `y` on a confirmation.
    Yes,
    /// `n` on a confirmation.
    No,
    /// Moves focus between buttons or form fields.
    FocusNext,
    FocusPrev,
    Verify,
    /// Verifies the selected backup parsing it again, whatever the memo of
    /// verified content says.
    VerifyDeep,
    VerifyAll,
    ToggleMark,
    Diff,
    Restore,
    /// Plans the restore again accepting a backup without a meta.
    AllowUnverified,
    Rotate,
    /// The trash view.
    OpenTrash,
    /// The evidence view (kept primaries).
    OpenEvidence,
    /// The activity log in full.
    OpenLog,
    /// The next order of the backups table (newest, oldest, size, nodes).
    SortNext,
    /// Select the newest backup that verified valid.
    NewestValid,
    /// Copy the selected backup's id, data path or checksum to the
    /// terminal's clipboard (OSC 52).
    CopyId,
    CopyPath,
    CopyChecksum,
    /// Save the rotate form's policy as the store's own.
    SavePolicy,
    Snapshot,
    /// The off-site panel: each remote, its last push and lag.
    OpenRemotes,
    /// Push to the remotes now (every remote from the main screen, the
    /// selected one from the off-site panel).
    Push,
    /// Open the node browser (of the selected backup; of a diff's changed nodes).
    Browse,
    /// The selected node's history across the store.
    NodeHistory,
    /// The node browser's type filter: the next type.
    CycleType,
    /// Partial restore: a node changed since wins in the backup's version.
    PreferBackup,
    /// Partial restore: a node changed since keeps its current version.
    PreferCurrent,
    /// Partial restore: bring the nodes' edges too, or not.
    ToggleEdges,
    /// Simulate corruption on a sandbox, or recover a broken primary.
    Simulate,
    Refresh,
    /// A key for the focused text input.
    Input(KeyEvent),
    /// A left click at (column, row) of the screen.
    Click(u16, u16),
    Resize(u16, u16),
    /// The clock moved on (ages, periodic probes).
    Tick(NaiveDateTime),
    /// A result from the worker thread.
    Worker(Event),
}
