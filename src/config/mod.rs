//! `ldirectord.cf` and `lvsd.toml` into one validated, typed model.
//! Reads files, nothing else. May use: `model`.

pub mod error;
pub mod ldirectord;
pub mod policy;
pub mod toml;

pub use error::{Diagnostic, Error};
