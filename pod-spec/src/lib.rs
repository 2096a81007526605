//! The pod.yml model.
#![forbid(unsafe_code)]
