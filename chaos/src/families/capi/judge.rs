//! The capi family's judge: the one work log every master appends to, read
//! in append order (the kernel's order of the O_APPEND writes), nothing
//! else.
//!
//! A line is `work NAME TOKEN MS`. A term is a token's lines; a term
//! begins with its first line. Once a term's line is in the log, no line
//! of an earlier term (a smaller token) may follow it: each pair (earlier
//! term, the term whose line it follows) found so is an overlap (O). A
//! token seen for the first time that is smaller than one before it is a
//! token that went down (also an overlap: that term began after a later
//! one). A token written under two names is an error too.

use std::collections::{BTreeSet, HashMap};

/// One term in the log: its token, who wrote it, its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Term {
    pub token: i64,
    pub name: String,
    pub lines: usize,
}

/// What the log shows.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// Well-formed lines.
    pub lines: usize,
    /// The terms in the order they began.
    pub terms: Vec<Term>,
    /// (earlier token, later token) pairs: a line of the earlier term
    /// after a line of the later one.
    pub overlaps: BTreeSet<(i64, i64)>,
    /// Terms whose first line came after a line of a larger token.
    pub regressions: usize,
    /// Lines not understood, or a token under two names.
    pub bad: Vec<String>,
}

/// `work NAME TOKEN MS`.
fn parse(line: &str) -> Option<(&str, i64)> {
    let mut f = line.split(' ');
    if f.next()? != "work" {
        return None;
    }
    let name = f.next()?;
    let token = f.next()?.parse().ok()?;
    f.next()?;
    f.next().is_none().then_some((name, token))
}

/// Judges the log's text.
pub(crate) fn judge(text: &str) -> Verdict {
    let mut v = Verdict::default();
    let mut latest: Option<i64> = None;
    let mut index: HashMap<i64, usize> = HashMap::new();
    for line in text.lines() {
        let Some((name, token)) = parse(line) else {
            v.bad.push(line.to_owned());
            continue;
        };
        v.lines += 1;
        match index.get(&token) {
            Some(&i) => {
                v.terms[i].lines += 1;
                if v.terms[i].name != name {
                    v.bad.push(format!(
                        "token {token} written by {name} and by {}",
                        v.terms[i].name
                    ));
                }
            }
            None => {
                if latest.is_some_and(|l| token < l) {
                    v.regressions += 1;
                }
                index.insert(token, v.terms.len());
                v.terms.push(Term {
                    token,
                    name: name.to_owned(),
                    lines: 1,
                });
            }
        }
        match latest {
            Some(l) if token < l => {
                v.overlaps.insert((token, l));
            }
            Some(l) if token == l => {}
            _ => latest = Some(token),
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handovers_in_order_are_clean() {
        let v = judge("work a 5 1\nwork a 5 2\nwork b 9 3\nwork c 12 4\nwork c 12 5\n");
        assert_eq!(v.lines, 5);
        assert_eq!(v.terms.len(), 3);
        assert!(v.overlaps.is_empty() && v.regressions == 0 && v.bad.is_empty());
    }

    #[test]
    fn a_late_line_of_an_earlier_term_is_an_overlap() {
        let v = judge("work a 5 1\nwork b 9 2\nwork a 5 3\nwork b 9 4\nwork a 5 5\n");
        assert_eq!(v.overlaps, BTreeSet::from([(5, 9)]));
        assert_eq!(v.regressions, 0);
    }

    #[test]
    fn a_term_beginning_with_a_smaller_token_is_an_overlap_and_a_regression() {
        let v = judge("work a 9 1\nwork b 5 2\n");
        assert_eq!(v.overlaps, BTreeSet::from([(5, 9)]));
        assert_eq!(v.regressions, 1);
    }

    #[test]
    fn garbage_and_a_token_under_two_names_are_reported() {
        let v = judge("work a 5 1\nwork b 5 2\nhalf a li\n");
        assert_eq!(v.bad.len(), 2, "{:?}", v.bad);
    }
}
