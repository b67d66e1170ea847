//! The two checkers: the candidates' traces and the commands' own files.

pub mod blackbox;
pub mod trace;
