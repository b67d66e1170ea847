//! The election trace: one JSON object per line, shared with the C++
//! reference peer (testing/cpp/seed_peer.cpp) so traces can be compared.
//!
//! Every line has `t` (CLOCK_MONOTONIC in ms, comparable across processes
//! on one machine), `who`, `pid` and `event`, one of: `init` (a
//! `zookeeper_init`, with the `clientid` passed, "0x0" for NULL),
//! `connected` (with `session`), `expired`, `create` (with `rc`; a safe standby's claim that its watch on
//! the master node sent also has `sent_by`: `"watch"`),
//! `became_master` (with `path`, and `token` where known), `work`,
//! `lost_master` (with `reason` and `valid_until`: when mastership really
//! ended, earlier than `t` if a lease ran out), `error` (with `rc`,
//! `message`), `exit`.
//!
//! The lines are written by hand, not with serde_json: they are flat objects
//! of strings and numbers, and the library stays free of serde for users
//! who never trace (`default-features = false` pulls in no serialisation
//! crate). A test parses what `emit` writes with serde_json.

use crate::clock::monotonic_ms;
use parking_lot::Mutex;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// A field value in a trace line.
pub enum Value<'a> {
    /// A JSON string (escaped).
    Str(&'a str),
    /// A JSON integer.
    Int(i64),
    /// A JSON number with 3 decimals (times in ms).
    Float(f64),
}

/// Where trace lines go; cheap to call when disabled.
pub struct Trace {
    out: Option<Mutex<Box<dyn Write + Send>>>,
    who: String,
}

impl Trace {
    /// No trace.
    pub fn off() -> Trace {
        Trace {
            out: None,
            who: String::new(),
        }
    }

    /// Appends to `path` ("-" for stdout).
    pub fn to_file(path: &Path, who: &str) -> std::io::Result<Trace> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?) as Box<File>
                as Box<dyn Write + Send>
        };
        Ok(Trace {
            out: Some(Mutex::new(out)),
            who: who.to_owned(),
        })
    }

    /// Writes one line: `{"t":…,"who":…,"pid":…,"event":…, fields…}`.
    pub fn emit(&self, event: &str, fields: &[(&str, Value<'_>)]) {
        let Some(out) = &self.out else { return };
        let mut line = format!(
            "{{\"t\":{:.3},\"who\":\"{}\",\"pid\":{},\"event\":\"{}\"",
            monotonic_ms(),
            escape(&self.who),
            std::process::id(),
            escape(event)
        );
        for (k, v) in fields {
            match v {
                Value::Str(s) => {
                    let _ = write!(line, ",\"{}\":\"{}\"", escape(k), escape(s));
                }
                Value::Int(i) => {
                    let _ = write!(line, ",\"{}\":{i}", escape(k));
                }
                // JSON has no NaN or infinity.
                Value::Float(x) if !x.is_finite() => {
                    let _ = write!(line, ",\"{}\":null", escape(k));
                }
                Value::Float(x) => {
                    let _ = write!(line, ",\"{}\":{x:.3}", escape(k));
                }
            }
        }
        line.push_str("}\n");
        let mut out = out.lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        /// Whatever the strings and numbers, each line is one JSON object
        /// that serde_json reads back to the same values.
        #[test]
        fn every_line_is_json_that_reads_back(
            who in "\\PC*|[\u{0}-\u{1f}\"\\\\]{0,8}",
            key in "[a-z_]{1,8}",
            text in proptest::prelude::any::<String>(),
            int in proptest::prelude::any::<i64>(),
            x in proptest::prop_oneof![
                8 => proptest::prelude::any::<f64>(),
                1 => proptest::strategy::Just(f64::NAN),
                1 => proptest::strategy::Just(f64::INFINITY),
            ],
        ) {
            let dir = std::env::temp_dir().join(format!("zkha-trace-prop-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("t.trace");
            let _ = std::fs::remove_file(&file);
            let t = Trace::to_file(&file, &who).unwrap();
            t.emit(&text, &[(&key, Value::Str(&text)), ("i", Value::Int(int)), ("x", Value::Float(x))]);
            drop(t);
            let line = std::fs::read_to_string(&file).unwrap();
            proptest::prop_assert_eq!(line.lines().count(), 1, "{:?}", line);
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(format!("{e}: {line:?}"))
            })?;
            proptest::prop_assert_eq!(v["who"].as_str(), Some(who.as_str()));
            proptest::prop_assert_eq!(v["event"].as_str(), Some(text.as_str()));
            if key != "i" && key != "x" && key != "t" && key != "who" && key != "pid" && key != "event" {
                proptest::prop_assert_eq!(v[key.as_str()].as_str(), Some(text.as_str()));
            }
            proptest::prop_assert_eq!(v["i"].as_i64(), Some(int));
            if x.is_finite() {
                let back = v["x"].as_f64().unwrap();
                proptest::prop_assert!((back - x).abs() <= 0.0005 + x.abs() * 1e-12, "{} vs {}", back, x);
            } else {
                proptest::prop_assert!(v["x"].is_null());
            }
        }
    }
}
