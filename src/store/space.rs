//! The free-space check a save or a restore passes before it writes
//! anything: a write that fills the disk can fail half-way, and an operator
//! in the middle of an incident should hear "not enough space, nothing was
//! touched" rather than meet ENOSPC on the third file.

use std::path::{Path, PathBuf};

use super::Store;
use super::error::{Result, StoreError};

/// A store without a config keeps free at least twice the new graph's size.
pub fn default_margin() -> u32 {
    2
}

/// What the check found, for a header or a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SpaceCheck {
    /// Bytes free on the store's filesystem (for an unprivileged writer).
    pub available: u64,
    /// Bytes the operation writes.
    pub writes: u64,
    /// Bytes it must leave free afterwards.
    pub margin: u64,
}

impl SpaceCheck {
    /// Bytes needed in all: what is written plus the margin left.
    pub fn needed(&self) -> u64 {
        self.writes.saturating_add(self.margin)
    }

    pub fn enough(&self) -> bool {
        self.available >= self.needed()
    }
}

impl Store {
    /// The nearest existing directory at or above the store's root: the
    /// first save asks before the root exists.
    fn existing_ancestor(&self) -> PathBuf {
        let mut at: &Path = self.root();
        loop {
            if self.fs.entry(at).is_ok() {
                return at.to_path_buf();
            }
            match at.parent() {
                Some(p) if !p.as_os_str().is_empty() => at = p,
                _ => return PathBuf::from("."),
            }
        }
    }

    /// Free space on the store's filesystem, when it can be known.
    pub fn free_space(&self) -> Option<u64> {
        self.fs.free_space(&self.existing_ancestor())
    }

    /// How an operation writing `writes` bytes of a graph of `graph_size`
    /// bytes stands against the store's margin; `None` when the free space
    /// cannot be known or the check is off.
    pub fn space_check(&self, graph_size: u64, writes: u64) -> Option<SpaceCheck> {
        let factor = u64::from(self.config.space_margin);
        if factor == 0 {
            return None;
        }
        Some(SpaceCheck {
            available: self.free_space()?,
            writes,
            margin: graph_size.saturating_mul(factor),
        })
    }

    /// Refuses `op` before it writes anything when it would leave less free
    /// space than the margin. `untouched` says what stays as it is.
    pub(crate) fn require_space(
        &self,
        op: &'static str,
        graph_size: u64,
        writes: u64,
        untouched: &str,
    ) -> Result<()> {
        match self.space_check(graph_size, writes) {
            Some(check) if !check.enough() => Err(StoreError::NoSpace {
                op,
                path: self.existing_ancestor(),
                needed: check.needed(),
                writes: check.writes,
                margin: check.margin,
                available: check.available,
                untouched: untouched.to_string(),
            }),
            _ => Ok(()),
        }
    }
}
