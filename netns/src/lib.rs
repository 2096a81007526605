//! Network plumbing for podrt pods.
#![forbid(unsafe_code)]
