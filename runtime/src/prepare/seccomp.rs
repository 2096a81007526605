//! TEMPORARY placeholder: replaced by the real compiler before commit.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp is not wired yet")]
    NotYet,
}
#[derive(Debug, Clone)]
pub struct CompiledSeccomp {
    pub filters: Vec<Vec<libc::sock_filter>>,
    pub flags: u32,
}
pub fn compile(_p: &oci_spec::runtime::LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    Err(SeccompError::NotYet)
}
pub fn features() -> serde_json::Value {
    serde_json::json!({"enabled": false})
}
