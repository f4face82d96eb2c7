//! Binary-classification metrics: pure functions of (probability, label) pairs.
//!
//! Knows nothing of burn or the terminal; the trainer computes a [`Metrics`] per split and
//! epoch and the dashboard draws it.

use serde::{Deserialize, Serialize};

/// Counts at one decision threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// Everything the dashboard and the CLI show for one split at one epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of examples.
    pub n: u64,
    /// Mean binary cross-entropy (NaN when no loss was recorded).
    pub loss: f64,
    pub accuracy: f64,
    pub precision: f64,
    /// Sensitivity / true positive rate.
    pub recall: f64,
    pub specificity: f64,
    pub f1: f64,
    /// ROC AUC, exact (Mann-Whitney with ties counted half).
    pub auc: f64,
    pub average_precision: f64,
    /// Confusion matrix at threshold 0.5.
    pub confusion: Confusion,
    /// The Youden-optimal threshold (max TPR - FPR) and its confusion matrix.
    pub youden_threshold: f64,
    pub youden_confusion: Confusion,
    /// ROC curve points `[fpr, tpr]`, down-sampled for display, from (0,0) to (1,1).
    pub roc: Vec<[f32; 2]>,
}
