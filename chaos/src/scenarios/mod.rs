//! The scenarios, by where the fault is; each a method of [`crate::Chaos`].

mod members;
mod network;
mod processes;
mod servers;

pub use members::MemberFault;
