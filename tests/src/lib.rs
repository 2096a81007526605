//! Black-box, privileged conformance harness for podrt.
//!
//! The tests in `tests/tests/*.rs` drive any runc-compatible binary, chosen with the
//! `PODRT_TEST_RUNTIME` environment variable (default: the workspace's `target/debug/podrt`).
//! Run them against runc to validate the tests themselves:
//!
//! ```text
//! PODRT_TEST_RUNTIME=runc cargo test -p podrt-tests -- --test-threads=2
//! ```
//!
//! Every test owns a [`Ctx`]: a temp dir holding the runtime's `--root`, its `--log` file and one
//! or more bundles. Dropping the `Ctx` runs the leak check (state dir, cgroups, mounts,
//! processes) and fails the test on any leak.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless,
    clippy::missing_panics_doc
)]

pub mod bundle;
pub mod clients;
pub mod console;
pub mod ctx;
pub mod features;
pub mod hostmount;
pub mod leak;
pub mod pods;
pub mod procfs;
pub mod runtime;

pub use bundle::Bundle;
pub use console::ConsoleReceiver;
pub use ctx::Ctx;
pub use features::{requires, Feature};
pub use hostmount::HostMount;
pub use leak::Scope;
pub use runtime::{Out, Runtime};
pub use serde_json::{json, Value};

/// Skip the rest of the test (loudly, and counted) when the machine lacks a feature.
#[macro_export]
macro_rules! require {
    ($feature:expr) => {
        if !$crate::features::requires($feature) {
            return;
        }
    };
}
