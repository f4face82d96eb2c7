//! Splits, normalisation and the batch loader on small fixtures of real tiles.

use crate::support::*;
use histoboard::data::{Dataset, LoaderOptions, Split, loader, normalization, output_side};
use histoboard::experiment::{BadTilePolicy, Normalize, SplitConfig};
use std::sync::Arc;

fn fixture(n: usize, cache: bool) -> (tempfile::TempDir, Arc<Dataset>) {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(n);
    let z = kaggle_zip(dir.path(), &tiles, &labels_csv(&tiles));
    let mut cfg = config(&z, &dir.path().join("cache"));
    cfg.cache = cache;
    let ds = Arc::new(Dataset::open(&cfg).unwrap());
    (dir, ds)
}

fn collect(
    ds: &Arc<Dataset>,
    idx: Vec<usize>,
    opts: LoaderOptions,
) -> Vec<histoboard::data::Batch> {
    loader(ds.clone(), idx, opts).map(|b| b.unwrap()).collect()
}

#[test]
fn batches_are_identical_for_any_worker_count_and_store() {
    let (_d1, cached) = fixture(10, true);
    let (_d2, streamed) = fixture(10, false);
    assert!(cached.is_cached() && !streamed.is_cached());
    let opts = |workers| LoaderOptions {
        batch_size: 3,
        shuffle: true,
        augment: Some(histoboard::data::heavy_augment()),
        seed: 7,
        epoch: 2,
        workers,
        prefetch: 2,
        crop: 72,
        ..Default::default()
    };
    let idx: Vec<usize> = (0..10).collect();
    let one = collect(&cached, idx.clone(), opts(1));
    assert_eq!(one.len(), 4);
    assert_eq!(one[3].len(), 1);
    assert_eq!(one[0].side, 72);
    assert_eq!(one[0].images.len(), 3 * 3 * 72 * 72);
    assert_eq!(one, collect(&cached, idx.clone(), opts(3)));
    assert_eq!(one, collect(&streamed, idx.clone(), opts(2)));
    // Every tile once per epoch, shuffled, labels matching the data set.
    let mut seen: Vec<usize> = one.iter().flat_map(|b| b.indices.clone()).collect();
    assert_ne!(seen, idx);
    seen.sort_unstable();
    assert_eq!(seen, idx);
    for b in &one {
        for (k, &i) in b.indices.iter().enumerate() {
            assert_eq!(b.labels[k], cached.labels()[i] as f32);
        }
    }
    // Another epoch: another order and other augmentations.
    let other = collect(
        &cached,
        idx,
        LoaderOptions {
            epoch: 3,
            ..opts(2)
        },
    );
    assert_ne!(one, other);
}

#[test]
fn no_augmentation_gives_normalised_pixels_and_tta_transforms() {
    let (_d, ds) = fixture(4, true);
    let base = LoaderOptions {
        batch_size: 4,
        workers: 2,
        mean: [0.0; 3],
        std: [255.0; 3],
        drop_last: true,
        ..Default::default()
    };
    let plain = collect(&ds, vec![0, 1, 2, 3], base.clone());
    assert_eq!(plain.len(), 1);
    let px = ds.reader().tile(2).unwrap().unwrap().to_vec();
    let img = &plain[0].images[2 * 3 * 96 * 96..3 * 3 * 96 * 96];
    // NCHW: channel plane c holds px[3 * k + c] / 255.
    for k in [0, 95, 4000, 9215] {
        for c in 0..3 {
            assert!((img[c * 9216 + k] - px[3 * k + c] as f32 / 255.0).abs() < 1e-6);
        }
    }
    // A horizontal flip (transform 4) mirrors each row exactly.
    let flipped = collect(
        &ds,
        vec![2],
        LoaderOptions {
            transform: Some(4),
            drop_last: false,
            ..base.clone()
        },
    );
    let f = &flipped[0].images;
    for (y, x) in [(0, 0), (10, 3), (95, 50)] {
        assert_eq!(f[y * 96 + x], img[y * 96 + 95 - x]);
    }
    // drop_last drops the partial batch.
    assert_eq!(collect(&ds, vec![0, 1, 2], base).len(), 0);
}

#[test]
fn dropping_a_loader_early_stops_its_workers() {
    let (_d, ds) = fixture(8, true);
    let mut l = loader(
        ds.clone(),
        (0..8).collect(),
        LoaderOptions {
            batch_size: 1,
            workers: 2,
            prefetch: 1,
            ..Default::default()
        },
    );
    assert!(l.next().unwrap().is_ok());
    // Each worker holds a clone of `ds` until its thread ends, so the count tells whether the
    // workers are still alive; it is this test's own `Arc`, so tests running alongside do not
    // disturb it. With one batch taken out of eight, both workers are blocked on a full channel.
    assert_eq!(Arc::strong_count(&ds), 3, "two live workers");
    // Dropped on another thread so that a drop stuck on its workers fails here, not hangs.
    let dropper = std::thread::spawn(move || drop(l));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Arc::strong_count(&ds) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "loader workers still running 10 s after the drop ({} holding the data set)",
            Arc::strong_count(&ds) - 1
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    dropper.join().expect("dropping the loader does not panic");
    // Bad options surface as the first item.
    let mut l = loader(
        ds,
        vec![0],
        LoaderOptions {
            crop: 8,
            ..Default::default()
        },
    );
    let e = l.next().unwrap().unwrap_err().to_string();
    assert!(e.contains("crop"), "{e}");
    assert!(l.next().is_none());
}

#[test]
fn bad_streamed_tiles_are_skipped_in_batches_or_stop_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let mut tiles = real_tiles(4);
    tiles.insert(1, ("broken".into(), 1, b"not a tiff at all".to_vec()));
    let z = kaggle_zip(dir.path(), &tiles, &labels_csv(&tiles));
    let mut cfg = config(&z, dir.path());
    let ds = Arc::new(Dataset::open(&cfg).unwrap());
    let opts = LoaderOptions {
        batch_size: 5,
        workers: 1,
        ..Default::default()
    };
    let e = format!(
        "{:#}",
        loader(ds, (0..5).collect(), opts.clone())
            .next()
            .unwrap()
            .unwrap_err()
    );
    assert!(e.contains("train/broken.tif"), "{e}");
    cfg.bad_tiles = BadTilePolicy::Skip;
    let ds = Arc::new(Dataset::open(&cfg).unwrap());
    let b = collect(&ds, (0..5).collect(), opts);
    assert_eq!(b[0].indices, vec![0, 2, 3, 4]);
    assert_eq!(ds.report().skipped[0].0, "broken");
}

#[test]
fn split_round_trips_through_csv() {
    let (dir, ds) = fixture(20, false);
    let cfg = SplitConfig {
        valid: 0.2,
        test: 0.1,
        ..Default::default()
    };
    let s = Split::stratified(ds.labels(), None, &cfg).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (14, 4, 2));
    let path = dir.path().join("run/split.csv");
    s.save_csv(&ds, &path).unwrap();
    assert_eq!(Split::load_csv(&ds, &path).unwrap(), s);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("id,label,split\n"));
    let broken = text.replacen(",valid\n", ",holdout\n", 1);
    std::fs::write(&path, broken).unwrap();
    let e = format!("{:#}", Split::load_csv(&ds, &path).unwrap_err());
    assert!(
        e.contains("split.csv line") && e.contains("bad split \"holdout\""),
        "{e}"
    );
}

#[test]
fn normalisation_modes() {
    let (_d, ds) = fixture(6, false);
    let mut cfg = histoboard::experiment::DataConfig::default();
    let (mean, std) = normalization(&cfg, &ds, &[0, 1, 2, 3, 4, 5]).unwrap();
    for c in 0..3 {
        // H&E tiles are bright and pinkish: plausible, not exact.
        assert!(
            (60.0..250.0).contains(&mean[c]) && (5.0..120.0).contains(&std[c]),
            "{mean:?} {std:?}"
        );
    }
    cfg.normalize = Normalize::Lite;
    assert_eq!(
        normalization(&cfg, &ds, &[]).unwrap(),
        ([127.0; 3], [128.0; 3])
    );
    cfg.normalize = Normalize::Unit;
    assert_eq!(
        normalization(&cfg, &ds, &[]).unwrap(),
        ([0.0; 3], [255.0; 3])
    );
    assert_eq!(output_side(&cfg), 96);
    cfg.crop = 64;
    assert_eq!(output_side(&cfg), 64);
    cfg.resize = 224;
    assert_eq!(output_side(&cfg), 224);
}
