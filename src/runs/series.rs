//! A bounded series for long live tails: the batch-loss history of a run of any length.

use serde::Serialize;

/// Points kept in the batch-loss history before it is halved.
pub const BATCH_HISTORY_CAP: usize = 2000;

/// A series with bounded memory: once [`BATCH_HISTORY_CAP`] points are stored, neighbouring
/// pairs are averaged and each later point averages twice as many raw values, so spacing stays
/// uniform (good for sparklines) however long the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downsampled {
    /// `(x, y)` averages of `stride` raw points each.
    points: Vec<(f64, f64)>,
    stride: usize,
    /// Sum and count of raw points not yet making a full stride.
    pending: (f64, f64, usize),
    cap: usize,
}

impl Default for Downsampled {
    fn default() -> Self {
        Downsampled::with_cap(BATCH_HISTORY_CAP)
    }
}

impl Downsampled {
    /// `cap` is raised to 2 (halving needs pairs) and rounded up to even.
    pub fn with_cap(cap: usize) -> Downsampled {
        Downsampled {
            points: Vec::new(),
            stride: 1,
            pending: (0.0, 0.0, 0),
            cap: cap.max(2).next_multiple_of(2),
        }
    }

    pub fn push(&mut self, x: f64, y: f64) {
        self.pending = (self.pending.0 + x, self.pending.1 + y, self.pending.2 + 1);
        if self.pending.2 < self.stride {
            return;
        }
        let (sx, sy, k) = std::mem::take(&mut self.pending);
        self.points.push((sx / k as f64, sy / k as f64));
        if self.points.len() >= self.cap {
            self.points = self
                .points
                .chunks(2)
                .map(|p| {
                    let n = p.len() as f64;
                    (
                        p.iter().map(|q| q.0).sum::<f64>() / n,
                        p.iter().map(|q| q.1).sum::<f64>() / n,
                    )
                })
                .collect();
            self.stride *= 2;
        }
    }

    /// Stored points, oldest first, plus the average of the not-yet-full latest stride.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let mut out = self.points.clone();
        let (sx, sy, k) = self.pending;
        if k > 0 {
            out.push((sx / k as f64, sy / k as f64));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.points.len() + usize::from(self.pending.2 > 0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raw points per stored point.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Drops points with `x > limit` (a resumed run repeats those epochs).
    pub fn truncate_after(&mut self, limit: f64) {
        self.points.retain(|p| p.0 <= limit);
        self.pending = (0.0, 0.0, 0);
    }
}
