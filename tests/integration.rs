//! Integration tests of the storage core and the command line, one binary
//! with a module per operation. Fixtures are built in the application's
//! exact format by `common`, independently of graphvault's own writer.

#[path = "integration/common.rs"]
mod common;

#[path = "integration/auth.rs"]
mod auth;
#[path = "integration/check.rs"]
mod check;
#[path = "integration/cli.rs"]
mod cli;
#[path = "integration/compress.rs"]
mod compress;
#[path = "integration/corrupt.rs"]
mod corrupt;
#[path = "integration/delta.rs"]
mod delta;
#[path = "integration/diff.rs"]
mod diff;
#[path = "integration/list.rs"]
mod list;
#[path = "integration/lock.rs"]
mod lock;
#[path = "integration/memo.rs"]
mod memo;
#[path = "integration/negative_controls.rs"]
mod negative_controls;
#[path = "integration/nodes.rs"]
mod nodes;
#[path = "integration/outside_attack.rs"]
mod outside_attack;
#[path = "integration/python_app.rs"]
mod python_app;
#[path = "integration/recover.rs"]
mod recover;
#[path = "integration/remote.rs"]
mod remote;
#[path = "integration/restore.rs"]
mod restore;
#[path = "integration/rotate.rs"]
mod rotate;
#[path = "integration/s3server.rs"]
mod s3server;
#[path = "integration/save.rs"]
mod save;
#[path = "integration/trash.rs"]
mod trash;
#[path = "integration/tui_pty.rs"]
mod tui_pty;
#[path = "integration/tui_worker.rs"]
mod tui_worker;
#[path = "integration/verify.rs"]
mod verify;
#[path = "integration/wizard_vs_cli.rs"]
mod wizard_vs_cli;
