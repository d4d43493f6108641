//! The `graphvault` binary: parse arguments, open the store, hand over to
//! the command line or the terminal UI.

use std::process::ExitCode;

use clap::Parser;

use graphvault::cli::{self, Cli, Command, exit};

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match &cli.command {
        None => ExitCode::from(graphvault::app::run_ui(
            &cli.store,
            None,
            cli.key_file.as_deref(),
        )),
        Some(Command::Demo { dir, no_ui }) => {
            // With the UI up, logs go to its log file: stderr would draw
            // over the screen.
            if *no_ui {
                init_logging(cli.verbose);
            }
            ExitCode::from(graphvault::app::run_demo(dir.as_deref(), *no_ui))
        }
        Some(command) => {
            init_logging(cli.verbose);
            ExitCode::from(cli::run(&cli, command))
        }
    }
}
