//! The documentation tells the truth, in one test binary: every cited
//! design id is defined, the README is a front door and the docs name only
//! what exists, and the examples run and do what they say. Each file of
//! tests/docs/ is a module; a test's name is `module::test`.

mod common;

#[path = "docs/docs_design_ids.rs"]
mod docs_design_ids;
#[path = "docs/docs_readme.rs"]
mod docs_readme;
#[path = "docs/examples_run.rs"]
mod examples_run;
