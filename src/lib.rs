//! zkha
