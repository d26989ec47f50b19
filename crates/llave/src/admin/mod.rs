//! Operator commands behind `llave citizen …` and `llave demo`: the same core functions
//! the pages use, with plain-text or `--json` output.

pub mod citizen;
pub mod demo;
pub mod entity;
pub mod init;
pub mod staff;
