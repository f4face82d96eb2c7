//! Metrics checked against scikit-learn (tests/fixtures/metrics/generate.py writes cases.json).

use histoboard::metrics::{self, Confusion};
use serde::Deserialize;

const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    probs: Vec<f32>,
    labels: Vec<u8>,
    accuracy: f64,
    precision: f64,
    recall: f64,
    specificity: f64,
    f1: f64,
    auc: f64,
    average_precision: f64,
    confusion: Confusion,
    youden_threshold: f64,
    youden_confusion: Confusion,
    roc_fpr: Option<Vec<f64>>,
    roc_tpr: Option<Vec<f64>>,
    roc_thresholds: Option<Vec<f64>>,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metrics/cases.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fixture: Fixture = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        fixture.cases.len() >= 8,
        "{path}: expected the generated cases"
    );
    fixture.cases
}

fn close(name: &str, what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{name}: {what} = {got}, sklearn says {want}"
    );
}

#[test]
fn compute_matches_sklearn() {
    for c in cases() {
        let m = metrics::compute(&c.probs, &c.labels, 0.25, 50);
        let n = &c.name;
        assert_eq!(m.n, c.probs.len() as u64, "{n}");
        assert_eq!(m.loss, 0.25, "{n}: loss is passed through");
        close(n, "accuracy", m.accuracy, c.accuracy);
        close(n, "precision", m.precision, c.precision);
        close(n, "recall", m.recall, c.recall);
        close(n, "specificity", m.specificity, c.specificity);
        close(n, "f1", m.f1, c.f1);
        close(n, "auc", m.auc, c.auc);
        close(
            n,
            "average_precision",
            m.average_precision,
            c.average_precision,
        );
        assert_eq!(m.confusion, c.confusion, "{n}: confusion at 0.5");
        close(
            n,
            "youden_threshold",
            m.youden_threshold,
            c.youden_threshold,
        );
        assert_eq!(
            m.youden_confusion, c.youden_confusion,
            "{n}: Youden confusion"
        );
        close(n, "auc()", metrics::auc(&c.probs, &c.labels), c.auc);
        assert_eq!(
            metrics::confusion_at(&c.probs, &c.labels, 0.5),
            c.confusion,
            "{n}: confusion_at"
        );
    }
}

#[test]
fn roc_curve_matches_sklearn() {
    let mut checked = 0;
    for c in cases() {
        let (Some(fpr), Some(tpr), Some(thr)) = (&c.roc_fpr, &c.roc_tpr, &c.roc_thresholds) else {
            continue;
        };
        let n = &c.name;
        let roc = metrics::roc_curve(&c.probs, &c.labels);
        assert_eq!(roc.len(), fpr.len(), "{n}: number of ROC points");
        assert_eq!(roc[0], (0.0, 0.0, f64::INFINITY), "{n}: first point");
        for (i, &(f, t, th)) in roc.iter().enumerate() {
            close(n, &format!("fpr[{i}]"), f, fpr[i]);
            close(n, &format!("tpr[{i}]"), t, tpr[i]);
            if i > 0 {
                close(n, &format!("threshold[{i}]"), th, thr[i - 1]);
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} cases carried a ROC curve");
}

#[test]
fn stored_roc_is_a_bounded_subset_of_the_curve_with_endpoints() {
    for c in cases() {
        let full = metrics::roc_curve(&c.probs, &c.labels);
        for max in [2usize, 3, 10, 64] {
            let m = metrics::compute(&c.probs, &c.labels, f64::NAN, max);
            let n = &c.name;
            assert!(m.roc.len() <= max, "{n}: {} points > {max}", m.roc.len());
            assert_eq!(m.roc.first(), Some(&[0.0, 0.0]), "{n}: starts at (0,0)");
            assert_eq!(m.roc.last(), Some(&[1.0, 1.0]), "{n}: ends at (1,1)");
            for w in m.roc.windows(2) {
                assert!(
                    w[0][0] <= w[1][0] && w[0][1] <= w[1][1],
                    "{n}: not monotone"
                );
            }
            for p in &m.roc {
                assert!(
                    full.iter()
                        .any(|q| q.0 as f32 == p[0] && q.1 as f32 == p[1]),
                    "{n}: {p:?} is not a point of the curve"
                );
            }
            if full.len() <= max {
                assert_eq!(m.roc.len(), full.len(), "{n}: short curves are kept whole");
            }
        }
    }
}
