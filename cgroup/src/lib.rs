//! cgroup management for podrt: create a container's or pod's cgroup, apply OCI
//! `linux.resources`, move processes in, freeze, kill, read stats, remove.
//!
//! Works on pure cgroup v2 ([`Mode::Unified`]), on v1 ([`Mode::Legacy`]) and on hybrid hosts
//! ([`Mode::Hybrid`]: v1 hierarchies plus a cgroup2 mount that carries the rest, for example
//! only `hugetlb`): each controller is used in the hierarchy that actually carries it.
//!
//! ```no_run
//! # fn main() -> Result<(), podrt_cgroup::Error> {
//! use podrt_cgroup::{Cgroup, Layout};
//! let layout = Layout::detect()?;
//! let resources = oci_spec::runtime::LinuxResources::default();
//! let cg = Cgroup::create(&layout, "/podrt/web", Some(&resources))?;
//! if let Err(e) = cg.apply(&resources).and_then(|()| cg.add_task(1234)) {
//!     cg.destroy()?;
//!     return Err(e);
//! }
//! # Ok(()) }
//! ```
//!
//! Nothing here knows about the OCI lifecycle; the runtime decides when to call what.
#![forbid(unsafe_code)]

mod apply;
mod cgroup;
pub mod convert;
mod error;
mod fsio;
mod join;
mod layout;
mod stats;
mod v1;
mod v2;

pub use cgroup::Cgroup;
pub use error::Error;
pub use join::SelfJoin;
pub use layout::{Layout, Mode};
pub use stats::{CpuStats, MemoryStats, PidsStats, Stats};

#[cfg(test)]
mod tests;
