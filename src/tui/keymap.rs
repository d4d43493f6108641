//! The keymap: one table per view (the screens here, each popup and the
//! wizard in their own files), read as one by dispatch ([`lookup`]), the
//! footer hints ([`hints`]) and the `?` overlay ([`help_sections`]), so
//! what the screen says a key does is what the key does.

pub use crossterm::event::KeyCode;
use crossterm::event::{KeyEvent, KeyModifiers};

use super::action::Action;

/// Where the focus is; each binding belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere, even in text inputs.
    Global,
    Main,
    /// The store directory is missing or holds no graph.
    NoStore,
    Filter,
    Help,
    Details,
    Diff,
    Restore,
    /// A restore that has finished, failed or been refused: only a way out.
    RestoreOutcome,
    Rotate,
    /// The node browser.
    Nodes,
    /// The node browser's search input.
    NodeSearch,
    /// A node's history timeline.
    History,
    /// Restoring marked nodes into the current graph.
    NodeRestore,
    /// The trash: backups retention moved out of `backups/`.
    Trash,
    /// The primaries kept before they were replaced.
    Evidence,
    /// The off-site panel: the remotes, their last push and lag.
    Remotes,
    /// Confirming a rotation's moves to the trash.
    Confirm,
    /// A rotation under way.
    Rotating,
    Error,
    Wizard,
    /// The activity log in full.
    Log,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "anywhere",
            Context::Main => "backups table",
            Context::NoStore => "no store",
            Context::Filter => "filter input",
            Context::Help => "this help",
            Context::Details => "details",
            Context::Diff => "diff",
            Context::Restore => "restore plan",
            Context::RestoreOutcome => "restore result",
            Context::Rotate => "rotate form",
            Context::Nodes => "node browser",
            Context::NodeSearch => "node search",
            Context::History => "node history",
            Context::NodeRestore => "restore nodes",
            Context::Trash => "trash",
            Context::Evidence => "evidence (kept primaries)",
            Context::Remotes => "off-site panel",
            Context::Confirm => "confirmation",
            Context::Rotating => "rotation under way",
            Context::Error => "error",
            Context::Wizard => "corruption / recovery wizard",
            Context::Log => "activity log",
        }
    }

    /// Contexts whose unbound keys go to a text input.
    pub fn takes_text(self) -> bool {
        matches!(
            self,
            Context::Filter | Context::Rotate | Context::NodeSearch
        )
    }
}

/// A key with its modifiers (shift is part of the character for letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

pub const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

pub const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

pub const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

impl Key {
    fn matches(&self, event: &KeyEvent) -> bool {
        // Terminals report shifted letters with and without SHIFT; the
        // character already carries the case.
        let mods = event.modifiers - KeyModifiers::SHIFT;
        let want = self.mods - KeyModifiers::SHIFT;
        match (self.code, event.code) {
            (KeyCode::BackTab, KeyCode::BackTab) => true,
            (a, b) => a == b && mods == want,
        }
    }

    /// How the key is written in hints and help.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "S-Tab".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("C-{base}")
        } else {
            base
        }
    }
}

/// One row of the keymap.
#[derive(Debug)]
pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    pub action: Action,
    /// What it does, for the help overlay.
    pub help: &'static str,
    /// Short word for the footer; `None` keeps it out of the footer.
    pub hint: Option<&'static str>,
}

impl Binding {
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// One row of a key table: `bind!(Context, [keys], Action, "help")`, with a
/// footer word as a fifth argument.
macro_rules! bind {
    ($ctx:ident, [$($key:expr),+], $action:ident, $help:literal) => {
        $crate::tui::keymap::Binding {
            context: $crate::tui::keymap::Context::$ctx,
            keys: &[$($key),+],
            action: $crate::tui::action::Action::$action,
            help: $help,
            hint: None,
        }
    };
    ($ctx:ident, [$($key:expr),+], $action:ident, $help:literal, $hint:literal) => {
        $crate::tui::keymap::Binding {
            context: $crate::tui::keymap::Context::$ctx,
            keys: &[$($key),+],
            action: $crate::tui::action::Action::$action,
            help: $help,
            hint: Some($hint),
        }
    };
}
pub(crate) use bind;

/// The keys of the main screen, the no-store screen and the filter input;
/// each popup and the wizard keep theirs in their own file.
#[rustfmt::skip]
static SCREEN_KEYS: &[Binding] = &[
    bind!(Global, [ctrl('c')], Quit, "quit at once"),
    // The backups table. The footer shows the first hints that fit, so
    // quit, help and the operations come before movement.
    bind!(Main, [ch('q')], Quit, "quit", "quit"),
    bind!(Main, [ch('?')], Help, "help", "help"),
    bind!(Main, [ch('v')], Verify, "verify the selected backup, every level", "verify"),
    bind!(Main, [ch('D')], VerifyDeep, "verify the selected backup, parsing it again (never from the memo)"),
    bind!(Main, [ch('V')], VerifyAll, "verify the primary and every backup in the background", "all"),
    bind!(Main, [ch('d')], Diff, "diff the selected backup with the primary, or the two marked", "diff"),
    bind!(Main, [ch('r')], Restore, "restore the selected backup as the primary (plan, then confirm)", "restore"),
    bind!(Main, [ch('R')], Rotate, "rotate: retention policy form with a live preview", "rotate"),
    bind!(Main, [ch('s')], Snapshot, "snapshot: back up the primary now", "snapshot"),
    bind!(Main, [ch('x')], Simulate, "simulate corruption on a sandbox and recover; recover a broken primary", "damage"),
    bind!(Main, [ch('/')], OpenFilter, "filter by id, date or status (corrupt, valid…) as you type; Esc cancels", "filter"),
    bind!(Main, [ch(' ')], ToggleMark, "mark a backup for diff (mark two, then d)", "mark"),
    bind!(Main, [code(KeyCode::Enter)], Browse, "browse the nodes of the selected backup", "nodes"),
    bind!(Main, [ch('i')], Details, "details of the selected backup", "details"),
    bind!(Main, [ch('p')], PrimaryDetails, "details of the primary graph.json"),
    bind!(Main, [ch('t')], OpenTrash, "the trash: what retention moved out of backups/, and bring it back", "trash"),
    bind!(Main, [ch('e')], OpenEvidence, "the evidence: every primary graphvault replaced, and put one back (undo a restore)", "evidence"),
    bind!(Main, [ch('o')], OpenRemotes, "the off-site panel: each remote's endpoint, bucket, last push and lag", "off-site"),
    bind!(Main, [ch('P')], Push, "push every remote now (in the background; the off-site panel shows how far)"),
    bind!(Main, [ch('L')], OpenLog, "the activity log in full, scrollable", "log"),
    bind!(Main, [ch('n')], NewestValid, "select the newest valid backup", "newest valid"),
    bind!(Main, [ch('O')], SortNext, "order: newest, oldest, largest, most nodes first", "order"),
    bind!(Main, [ch('y')], CopyId, "copy the selected backup's id to the clipboard (OSC 52)", "copy id"),
    bind!(Main, [ch('Y')], CopyPath, "copy the selected backup's data file path (OSC 52)"),
    bind!(Main, [ch('#')], CopyChecksum, "copy the selected backup's SHA-256 (OSC 52)"),
    bind!(Main, [code(KeyCode::Esc), ch('c')], Cancel, "cancel verify all; clear the filter"),
    bind!(Main, [code(KeyCode::F(5)), ctrl('r')], Refresh, "re-read the store"),
    bind!(Main, [code(KeyCode::Up), ch('k')], Up, "select the newer backup"),
    bind!(Main, [code(KeyCode::Down), ch('j')], Down, "select the older backup"),
    bind!(Main, [code(KeyCode::PageUp)], PageUp, "one page up"),
    bind!(Main, [code(KeyCode::PageDown)], PageDown, "one page down"),
    bind!(Main, [ch('g'), code(KeyCode::Home)], Top, "newest backup"),
    bind!(Main, [ch('G'), code(KeyCode::End)], Bottom, "oldest backup"),
    // No store to show.
    bind!(NoStore, [code(KeyCode::F(5)), ctrl('r')], Refresh, "look again", "look again"),
    bind!(NoStore, [ch('?')], Help, "help", "help"),
    bind!(NoStore, [ch('q'), code(KeyCode::Esc)], Quit, "quit", "quit"),
    // Filter input.
    bind!(Filter, [code(KeyCode::Enter)], Submit, "keep the filter", "keep"),
    bind!(Filter, [code(KeyCode::Esc)], Close, "cancel", "cancel"),
];

/// Every key table, in the order help lists them.
fn tables() -> impl Iterator<Item = &'static [Binding]> {
    std::iter::once(SCREEN_KEYS)
        .chain(super::popups::KEYS.iter().copied())
        .chain(std::iter::once(super::wizard::KEYS))
}

/// Every key the UI knows.
pub fn all() -> impl Iterator<Item = &'static Binding> {
    tables().flatten()
}

/// The action bound to `key` in `context`; global keys first. In a text
/// input, an unbound key is typed.
pub fn lookup(context: Context, key: &KeyEvent) -> Option<Action> {
    let bound = all()
        .filter(|b| b.context == Context::Global || b.context == context)
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
        .map(|b| b.action.clone());
    match bound {
        Some(action) => Some(action),
        None if context.takes_text() => Some(Action::Input(*key)),
        None => None,
    }
}

/// `(keys, word)` pairs for the footer of `context`.
pub fn hints(context: Context) -> Vec<(String, &'static str)> {
    hint_bindings(context)
        .filter_map(|b| b.hint.map(|h| (b.keys_label(), h)))
        .collect()
}

/// The bindings of `context` that the footer shows, in order.
pub fn hint_bindings(context: Context) -> impl Iterator<Item = &'static Binding> {
    all().filter(move |b| b.context == context && b.hint.is_some())
}

/// The keys bound in `context` to the action `is` accepts, as written in
/// hints and help (`t`): so a message that names a key names the real one.
pub fn key_label(context: Context, is: impl Fn(&Action) -> bool) -> Option<String> {
    all()
        .find(|b| b.context == context && is(&b.action))
        .map(Binding::keys_label)
}

/// The main screen's key for the trash view, for messages that say how to
/// undo a rotation.
pub fn trash_key() -> String {
    key_label(Context::Main, |a| matches!(a, Action::OpenTrash)).unwrap_or_default()
}

/// The help overlay's sections: the current context first, then the rest.
pub fn help_sections(current: Context) -> Vec<(Context, Vec<&'static Binding>)> {
    let order = [
        current,
        Context::Main,
        Context::Filter,
        Context::Details,
        Context::Diff,
        Context::Restore,
        Context::RestoreOutcome,
        Context::Nodes,
        Context::NodeSearch,
        Context::History,
        Context::NodeRestore,
        Context::Rotate,
        Context::Confirm,
        Context::Rotating,
        Context::Trash,
        Context::Evidence,
        Context::Remotes,
        Context::Wizard,
        Context::Log,
        Context::NoStore,
        Context::Help,
        Context::Error,
        Context::Global,
    ];
    let mut seen: Vec<Context> = Vec::new();
    let mut out = Vec::new();
    for ctx in order {
        if seen.contains(&ctx) {
            continue;
        }
        seen.push(ctx);
        let bindings: Vec<&'static Binding> = all().filter(|b| b.context == ctx).collect();
        if !bindings.is_empty() {
            out.push((ctx, bindings));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        let keymap: Vec<&Binding> = all().collect();
        for (i, a) in keymap.iter().enumerate() {
            for b in &keymap[i + 1..] {
                let overlap = (a.context == b.context
                    || a.context == Context::Global
                    || b.context == Context::Global)
                    && a.keys.iter().any(|k| b.keys.contains(k));
                assert!(!overlap, "{:?} and {:?} share a key", a.help, b.help);
            }
        }
    }

    #[test]
    fn shifted_letters_match_with_or_without_the_shift_flag() {
        let plain = KeyEvent::new(KeyCode::Char('V'), KeyModifiers::NONE);
        let shifted = KeyEvent::new(KeyCode::Char('V'), KeyModifiers::SHIFT);
        assert!(matches!(
            lookup(Context::Main, &plain),
            Some(Action::VerifyAll)
        ));
        assert!(matches!(
            lookup(Context::Main, &shifted),
            Some(Action::VerifyAll)
        ));
        assert!(matches!(
            lookup(Context::Main, &press(KeyCode::Char('v'))),
            Some(Action::Verify)
        ));
    }

    #[test]
    fn text_contexts_type_unbound_keys_and_keep_global_ones() {
        assert!(matches!(
            lookup(Context::Filter, &press(KeyCode::Char('q'))),
            Some(Action::Input(_))
        ));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(matches!(
            lookup(Context::Filter, &ctrl_c),
            Some(Action::Quit)
        ));
        assert!(lookup(Context::Main, &press(KeyCode::Char('Z'))).is_none());
    }

    #[test]
    fn every_context_with_bindings_has_a_way_out() {
        for ctx in [
            Context::Main,
            Context::NoStore,
            Context::Filter,
            Context::Help,
            Context::Details,
            Context::Diff,
            Context::Restore,
            Context::RestoreOutcome,
            Context::Rotate,
            Context::Confirm,
            Context::Trash,
            Context::Evidence,
            Context::Remotes,
            Context::Error,
            Context::Wizard,
        ] {
            let out = all().any(|b| {
                b.context == ctx && matches!(b.action, Action::Quit | Action::Close | Action::No)
            });
            assert!(out, "{ctx:?} has no key that leaves it");
        }
    }

    #[test]
    fn footer_and_help_come_from_the_table() {
        let hints = hints(Context::Main);
        assert!(hints.iter().any(|(k, w)| k == "q" && *w == "quit"));
        let help = help_sections(Context::Rotate);
        assert_eq!(help[0].0, Context::Rotate);
        let listed: usize = help.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(listed, all().count());
    }
}
