//! Precision and recall of the builtin rules over the labelled set in
//! `fixtures/classify/eval.jsonl` (format in `fixtures/classify/README.md`).
//!
//! A case's `expect` is the complete list of classes it must yield, so every detection not in
//! it is a false positive and every class in it not detected is a false negative. `hard_for`
//! marks a negative as built to fool a class (Luhn-failing runs for `pan`, bad check digits for
//! `iban`...); each class needs at least [`MIN_CASES`] of those and of positives.

use super::{Classifier, Place};
use serde::Deserialize;

const EVAL: &str = include_str!("../../../fixtures/classify/eval.jsonl");
const MIN_CASES: usize = 15;
const MIN_PRECISION: f64 = 0.99;
const MIN_RECALL: f64 = 0.98;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    value: String,
    place: String,
    #[serde(default)]
    name: String,
    expect: Vec<String>,
    #[serde(default)]
    hard_for: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Score {
    positives: usize,
    hard_negatives: usize,
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }

    fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

fn place<'a>(kind: &str, name: &'a str) -> Option<Place<'a>> {
    Some(match kind {
        "query" => Place::Query { name },
        "header" => Place::Header { name },
        "body" => Place::BodyField { name },
        "path" => Place::PathSegment,
        _ => return None,
    })
}

#[test]
fn precision_and_recall_per_class() {
    let classifier = Classifier::builtin();
    let classes: Vec<String> = classifier.classes().map(str::to_string).collect();
    let mut scores = vec![Score::default(); classes.len()];
    let mut errors = Vec::new();
    for (line_no, line) in EVAL
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let case: Case = match serde_json::from_str(line) {
            Ok(c) => c,
            Err(e) => panic!("eval.jsonl:{}: {e}", line_no + 1),
        };
        let Some(p) = place(&case.place, &case.name) else {
            panic!("eval.jsonl:{}: unknown place {:?}", line_no + 1, case.place);
        };
        for c in case.expect.iter().chain(&case.hard_for) {
            assert!(
                classes.contains(c),
                "eval.jsonl:{}: unknown class {c}",
                line_no + 1
            );
        }
        let got: Vec<String> = classifier
            .classify(&case.value, p)
            .into_iter()
            .map(|d| d.class)
            .collect();
        for (i, class) in classes.iter().enumerate() {
            let want = case.expect.contains(class);
            let has = got.contains(class);
            let s = &mut scores[i];
            s.positives += usize::from(want);
            s.hard_negatives += usize::from(!want && case.hard_for.contains(class));
            match (want, has) {
                (true, true) => s.tp += 1,
                (false, true) => s.fp += 1,
                (true, false) => s.fn_ += 1,
                (false, false) => {}
            }
            if want != has {
                // The value itself is synthetic, but print only its length and place anyway:
                // test output is a log too.
                errors.push(format!(
                    "eval.jsonl:{}: {class}: expected {want}, got {has} ({} at {} {:?}, {} chars)",
                    line_no + 1,
                    if want { "missed" } else { "false positive" },
                    case.place,
                    case.name,
                    case.value.chars().count()
                ));
            }
        }
    }

    println!(
        "{:<22} {:>5} {:>5} {:>4} {:>4} {:>4} {:>9} {:>7}",
        "class", "pos", "hard", "tp", "fp", "fn", "precision", "recall"
    );
    for (class, s) in classes.iter().zip(&scores) {
        println!(
            "{:<22} {:>5} {:>5} {:>4} {:>4} {:>4} {:>9.3} {:>7.3}",
            class,
            s.positives,
            s.hard_negatives,
            s.tp,
            s.fp,
            s.fn_,
            s.precision(),
            s.recall()
        );
    }
    for e in &errors {
        println!("{e}");
    }
    for (class, s) in classes.iter().zip(&scores) {
        assert!(
            s.positives >= MIN_CASES,
            "{class}: only {} positives",
            s.positives
        );
        assert!(
            s.hard_negatives >= MIN_CASES,
            "{class}: only {} hard negatives",
            s.hard_negatives
        );
        assert!(
            s.precision() >= MIN_PRECISION,
            "{class}: precision {:.3}",
            s.precision()
        );
        assert!(
            s.recall() >= MIN_RECALL,
            "{class}: recall {:.3}",
            s.recall()
        );
    }
}
