pub mod app;
pub mod cli;
pub mod demo;
pub mod generate;
pub mod store;
pub mod tui;
