//! Degenerate inputs give defined values, never a panic.

use histoboard::metrics::{self, Confusion};

#[test]
fn empty_input() {
    let m = metrics::compute(&[], &[], f64::NAN, 10);
    assert_eq!(m.n, 0);
    assert!(m.accuracy.is_nan());
    assert!(m.auc.is_nan());
    assert!(m.average_precision.is_nan());
    assert_eq!(m.confusion, Confusion::default());
    assert!(m.roc.is_empty());
    assert_eq!(m.youden_threshold, 0.5);
    assert!(metrics::roc_curve(&[], &[]).is_empty());
}

#[test]
fn only_negatives() {
    let m = metrics::compute(&[0.1, 0.7, 0.4], &[0, 0, 0], 0.3, 10);
    assert!(m.auc.is_nan(), "AUC undefined without positives");
    assert!(
        m.average_precision.is_nan(),
        "AP undefined without positives"
    );
    assert_eq!(m.recall, 0.0);
    assert_eq!(m.precision, 0.0, "one false positive, no true one");
    assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.specificity - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(m.youden_threshold, 0.5);
    assert_eq!(m.youden_confusion, m.confusion);
    assert!(m.roc.is_empty());
}

#[test]
fn only_positives() {
    let m = metrics::compute(&[0.2, 0.9], &[1, 1], 0.3, 10);
    assert!(m.auc.is_nan());
    assert_eq!(
        m.average_precision, 1.0,
        "every prediction is a true positive"
    );
    assert_eq!(m.specificity, 0.0);
    assert_eq!(m.recall, 0.5);
}

#[test]
fn mismatched_lengths_use_the_common_prefix() {
    let m = metrics::compute(&[0.9, 0.1, 0.8], &[1, 0], f64::NAN, 10);
    assert_eq!(m.n, 2);
    assert_eq!(m.auc, 1.0);
}

#[test]
fn nan_scores_rank_lowest_and_are_never_positive() {
    let m = metrics::compute(&[f32::NAN, 0.9, 0.2], &[1, 0, 0], f64::NAN, 10);
    assert_eq!(m.confusion.fn_, 1, "the NaN positive is predicted negative");
    // The positive (NaN = lowest) ranks below both negatives.
    assert_eq!(m.auc, 0.0);
}

#[test]
fn nonzero_labels_are_positive() {
    let a = metrics::compute(&[0.3, 0.6, 0.9], &[0, 7, 1], 0.1, 10);
    let b = metrics::compute(&[0.3, 0.6, 0.9], &[0, 1, 1], 0.1, 10);
    assert_eq!(a, b);
}

#[test]
fn zero_roc_points_stores_no_curve() {
    let m = metrics::compute(&[0.3, 0.6], &[0, 1], f64::NAN, 0);
    assert!(m.roc.is_empty());
    let m = metrics::compute(&[0.3, 0.6, 0.4, 0.1], &[0, 1, 1, 0], f64::NAN, 1);
    assert_eq!(
        m.roc,
        vec![[0.0, 0.0], [1.0, 1.0]],
        "1 is raised to both endpoints"
    );
}
