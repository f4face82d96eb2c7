//! The batch loader: worker threads build augmented batches ahead of the trainer.
//!
//! Batch `b` is always built by worker `b % workers` and read from that worker's bounded
//! channel in turn, so batches arrive in order and are identical whatever the thread count;
//! a full channel blocks its worker (back-pressure). Dropping the loader stops the workers.

use super::augment::{Augmenter, Scratch};
use super::{Dataset, Rng};
use crate::experiment::AugmentConfig;
use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// One batch: images are f32 NCHW (N x 3 x side x side), normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    /// 0.0 / 1.0 per tile; NaN for an unlabelled set.
    pub labels: Vec<f32>,
    /// Dataset index of each tile (a skipped bad tile leaves the batch one shorter).
    pub indices: Vec<usize>,
    pub side: usize,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoaderOptions {
    pub batch_size: usize,
    /// Shuffle the order every epoch (seeded by `seed` and `epoch`).
    pub shuffle: bool,
    /// Augmentation (None or `enabled = false`: none, e.g. validation).
    pub augment: Option<AugmentConfig>,
    pub seed: u64,
    pub epoch: u64,
    /// Worker threads (0 = one per core).
    pub workers: usize,
    /// Ready batches kept ahead (at least one per worker).
    pub prefetch: usize,
    /// Centre crop side (0 = none) and resize side (0 = none), as in `DataConfig`.
    pub crop: u32,
    pub resize: u32,
    /// Normalisation `(p - mean) / std`, p in 0..255 (see [`super::normalization`]).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Drop a final partial batch.
    pub drop_last: bool,
    /// Fixed dihedral transform 0..8 applied to every tile (test-time augmentation).
    pub transform: Option<u8>,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions {
            batch_size: 64,
            shuffle: false,
            augment: None,
            seed: 0,
            epoch: 0,
            workers: 0,
            prefetch: 4,
            crop: 0,
            resize: 0,
            mean: [0.0; 3],
            std: [255.0; 3],
            drop_last: false,
            transform: None,
        }
    }
}

/// Threads to use for `workers` (0 = available parallelism).
pub(crate) fn resolve_workers(workers: usize) -> usize {
    if workers > 0 {
        workers
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// Iterator over batches; see the module docs.
pub struct Loader {
    receivers: Vec<Receiver<Result<Batch>>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    next: usize,
    total: usize,
    /// An error to hand out first (bad options), then the loader is finished.
    pending: Option<anyhow::Error>,
}

/// Starts a loader over `indices` of `ds` (see [`Loader::new`]); option errors come out as
/// the first item.
pub fn loader(ds: Arc<Dataset>, indices: Vec<usize>, opts: LoaderOptions) -> Loader {
    Loader::new(ds, indices, opts).unwrap_or_else(|e| Loader {
        receivers: Vec::new(),
        handles: Vec::new(),
        stop: Arc::new(AtomicBool::new(true)),
        next: 0,
        total: 0,
        pending: Some(e),
    })
}

impl Loader {
    pub fn new(ds: Arc<Dataset>, mut indices: Vec<usize>, opts: LoaderOptions) -> Result<Loader> {
        if opts.batch_size == 0 {
            anyhow::bail!("batch size must be at least 1");
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= ds.len()) {
            anyhow::bail!("tile index {bad} out of range ({} tiles)", ds.len());
        }
        let aug = Augmenter::new(
            opts.augment.as_ref(),
            opts.crop,
            opts.resize,
            opts.mean,
            opts.std,
            opts.transform,
            opts.seed,
            opts.epoch,
        )?;
        if opts.shuffle {
            Rng::new(&[opts.seed, opts.epoch, 0x5_4f1e]).shuffle(&mut indices);
        }
        let bs = opts.batch_size;
        let total = if opts.drop_last {
            indices.len() / bs
        } else {
            indices.len().div_ceil(bs)
        };
        let workers = resolve_workers(opts.workers).min(total.max(1));
        let cap = opts.prefetch.div_ceil(workers).max(1);
        let order = Arc::new(indices);
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(cap);
            receivers.push(rx);
            let job = Job {
                ds: ds.clone(),
                order: order.clone(),
                aug: aug.clone(),
                stop: stop.clone(),
                first: w,
                step: workers,
                total,
                bs,
            };
            let h = std::thread::Builder::new()
                .name(format!("histoboard-loader-{w}"))
                .spawn(move || job.run(tx))?;
            handles.push(h);
        }
        Ok(Loader {
            receivers,
            handles,
            stop,
            next: 0,
            total,
            pending: None,
        })
    }

    /// Batches this loader yields in all.
    pub fn batches(&self) -> usize {
        self.total
    }
}

struct Job {
    ds: Arc<Dataset>,
    order: Arc<Vec<usize>>,
    aug: Augmenter,
    stop: Arc<AtomicBool>,
    first: usize,
    step: usize,
    total: usize,
    bs: usize,
}

impl Job {
    fn run(self, tx: SyncSender<Result<Batch>>) {
        let mut reader = self.ds.reader();
        let mut scratch = Scratch::default();
        let side = self.aug.side();
        let per = 3 * side * side;
        for b in (self.first..self.total).step_by(self.step) {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let idx = &self.order[b * self.bs..((b + 1) * self.bs).min(self.order.len())];
            let mut batch = Batch {
                images: vec![0.0; idx.len() * per],
                labels: Vec::with_capacity(idx.len()),
                indices: Vec::with_capacity(idx.len()),
                side,
            };
            for &i in idx {
                let px = match reader.tile(i) {
                    Ok(Some(px)) => px,
                    Ok(None) => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let n = batch.indices.len();
                let plan = self.aug.plan(i);
                self.aug.render(
                    px,
                    &plan,
                    &mut batch.images[n * per..(n + 1) * per],
                    &mut scratch,
                );
                batch
                    .labels
                    .push(self.ds.label(i).map_or(f32::NAN, f32::from));
                batch.indices.push(i);
            }
            batch.images.truncate(batch.indices.len() * per);
            if tx.send(Ok(batch)).is_err() {
                return;
            }
        }
    }
}

impl Iterator for Loader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        while self.next < self.total {
            let rx = &self.receivers[self.next % self.receivers.len()];
            self.next += 1;
            match rx.recv() {
                // A batch whose tiles were all skipped as bad: nothing to hand out.
                Ok(Ok(b)) if b.is_empty() => continue,
                Ok(Ok(b)) => return Some(Ok(b)),
                Ok(Err(e)) => {
                    self.next = self.total;
                    return Some(Err(e));
                }
                Err(_) => {
                    self.next = self.total;
                    return Some(Err(anyhow::anyhow!("a loader worker stopped unexpectedly")));
                }
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next + usize::from(self.pending.is_some());
        (0, Some(left))
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receivers unblocks workers waiting to send.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
