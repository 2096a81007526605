//! podrt: a runc-compatible OCI runtime that clones the container init directly (no re-exec)
//! and also runs whole pods.

pub mod check;
pub mod cli;
pub mod console;
pub mod container;
pub mod hooks;
pub mod image;
pub mod init;
pub mod logging;
pub mod pod;
pub mod prepare;
pub mod signals;
pub mod state;
pub mod sync;
#[allow(unsafe_code)]
pub mod sys;
pub mod timings;

/// The OCI runtime-spec version podrt implements (and writes into state and specs).
pub const OCI_VERSION: &str = "1.0.2";
