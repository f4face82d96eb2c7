//! Opening sources: layouts, labels CSV problems, bad tiles, the packed cache.

use crate::support::*;
use histoboard::data::Dataset;
use histoboard::experiment::{BadTilePolicy, Sources};

#[test]
fn bundled_sample_has_the_expected_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(std::path::Path::new("x"), dir.path());
    cfg.source = "bundled".into();
    let ds = Dataset::open(&cfg).unwrap();
    let r = ds.report();
    assert_eq!(r.label_counts, [2282, 1568]);
    assert_eq!(ds.len(), 3850);
    assert!(r.skipped.is_empty());
    assert!(
        r.sources[0].layout.contains("train/"),
        "{}",
        r.sources[0].layout
    );
}

#[test]
fn zip_and_folder_sources_agree_and_decode_real_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(12);
    let csv = labels_csv(&tiles);
    let z = kaggle_zip(dir.path(), &tiles, &csv);
    let f = kaggle_folder(dir.path(), &tiles, &csv);
    let a = Dataset::open(&config(&z, dir.path())).unwrap();
    let b = Dataset::open(&config(&f, dir.path())).unwrap();
    assert_eq!(a.ids(), b.ids());
    assert_eq!(a.labels(), b.labels());
    // CSV order is kept.
    assert_eq!(a.ids()[0], tiles[0].0);
    let (mut ra, mut rb) = (a.reader(), b.reader());
    for (i, tile) in tiles.iter().enumerate() {
        let pa = ra.tile(i).unwrap().unwrap().to_vec();
        assert_eq!(pa, rb.tile(i).unwrap().unwrap());
        // Same pixels as the general decoder gives.
        let img = image::load_from_memory(&tile.2).unwrap().to_rgb8();
        assert_eq!(pa, img.into_raw());
    }
}

#[test]
fn folder_of_png_tiles_with_labels_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(4);
    let folder = dir.path().join("tiles");
    std::fs::create_dir(&folder).unwrap();
    for (id, _, b) in &tiles {
        let img = image::load_from_memory(b).unwrap();
        img.save(folder.join(format!("{id}.png"))).unwrap();
    }
    let labels = dir.path().join("my_labels.csv");
    std::fs::write(&labels, labels_csv(&tiles)).unwrap();
    let mut cfg = config(&folder, dir.path());
    let e = message(Dataset::open(&cfg).unwrap_err());
    assert!(e.contains("data.labels"), "{e}");
    cfg.labels = Some(labels.display().to_string());
    let ds = Dataset::open(&cfg).unwrap();
    assert_eq!(ds.len(), 4);
    assert_eq!(ds.report().sources[0].layout, "folder of tiles");
}

#[test]
fn labels_csv_problems_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(4);
    let ids: Vec<&str> = tiles.iter().map(|t| t.0.as_str()).collect();
    let cases = [
        (
            "bad header",
            format!("image,target\n{},0\n", ids[0]),
            "line 1: bad header",
        ),
        (
            "bad label",
            format!("id,label\n{},0\n{},2\n", ids[0], ids[1]),
            "line 3: bad label \"2\"",
        ),
        (
            "duplicate",
            format!("id,label\n{},0\n{},1\n{},1\n", ids[0], ids[1], ids[0]),
            "line 4: duplicate id",
        ),
    ];
    for (what, csv, want) in cases {
        let z = kaggle_zip(dir.path(), &tiles, &csv);
        let e = message(Dataset::open(&config(&z, dir.path())).unwrap_err());
        assert!(
            e.contains("kaggle.zip:train_labels.csv") && e.contains(want),
            "{what}: {e}"
        );
    }
}

#[test]
fn ids_without_tiles_and_tiles_without_labels() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(6);
    let mut csv = labels_csv(&tiles[..5]);
    csv.push_str("0000000000missing,1\n");
    let z = kaggle_zip(dir.path(), &tiles, &csv);
    let mut cfg = config(&z, dir.path());
    let e = message(Dataset::open(&cfg).unwrap_err());
    assert!(
        e.contains("train_labels.csv line 7: id 0000000000missing has no tile")
            && e.contains("1 more"),
        "{e}"
    );
    cfg.bad_tiles = BadTilePolicy::Skip;
    let ds = Dataset::open(&cfg).unwrap();
    assert_eq!(ds.len(), 5);
    let skipped = ds.report().skipped;
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, "0000000000missing");
    assert_eq!(skipped[1].0, tiles[5].0);
    assert!(
        skipped[1]
            .1
            .contains(&format!("train/{}.tif: tile has no row", tiles[5].0))
    );
}

/// Real tiles plus three broken ones (truncated TIFF, wrong size, random bytes).
fn corrupt_fixture(dir: &std::path::Path) -> (std::path::PathBuf, Vec<String>) {
    let mut tiles = real_tiles(6);
    let trunc = tiles[0].2[..5000].to_vec();
    let mut small = Vec::new();
    image::DynamicImage::new_rgb8(64, 64)
        .write_to(
            &mut std::io::Cursor::new(&mut small),
            image::ImageFormat::Tiff,
        )
        .unwrap();
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let bad = ["badtrunc", "badsmall", "badnoise"];
    for (id, bytes) in bad.iter().zip([trunc, small, noise]) {
        tiles.push((id.to_string(), 1, bytes));
    }
    let csv = labels_csv(&tiles);
    (
        kaggle_zip(dir, &tiles, &csv),
        bad.iter().map(|s| s.to_string()).collect(),
    )
}

#[test]
fn bad_tiles_stop_or_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (z, bad) = corrupt_fixture(dir.path());
    for cache in [true, false] {
        let mut cfg = config(&z, &dir.path().join(format!("cache-{cache}")));
        cfg.cache = cache;
        let run = |cfg: &histoboard::experiment::DataConfig| -> anyhow::Result<Dataset> {
            let ds = Dataset::open(cfg)?;
            // Streaming finds bad tiles when they are decoded.
            let mut r = ds.reader();
            for i in 0..ds.len() {
                r.tile(i)?;
            }
            Ok(ds)
        };
        let e = message(run(&cfg).unwrap_err());
        assert!(
            e.contains("kaggle.zip:train/badtrunc.tif") && e.contains("truncated"),
            "{e}"
        );
        cfg.bad_tiles = BadTilePolicy::Skip;
        let ds = run(&cfg).unwrap();
        let skipped = ds.report().skipped;
        let ids: Vec<&str> = skipped.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(ids, bad, "cache {cache}: {skipped:?}");
        assert!(
            skipped[1].1.contains("wrong size 64x64"),
            "{:?}",
            skipped[1]
        );
        assert!(skipped[2].1.contains("not an image"), "{:?}", skipped[2]);
        if cache {
            assert_eq!(ds.len(), 6);
            // The cache remembers its skips: the error policy still refuses it.
            cfg.bad_tiles = BadTilePolicy::Error;
            assert!(message(Dataset::open(&cfg).unwrap_err()).contains("badtrunc"));
        }
    }
}

#[test]
fn missing_empty_and_non_zip_sources() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.zip");
    let e = message(Dataset::open(&config(&missing, dir.path())).unwrap_err());
    assert!(e.contains("nope.zip does not exist"), "{e}");
    let empty = dir.path().join("empty.zip");
    write_zip(&empty, &[]);
    let e = message(Dataset::open(&config(&empty, dir.path())).unwrap_err());
    assert!(e.contains("empty.zip") && e.contains("empty zip"), "{e}");
    let notzip = dir.path().join("notzip.zip");
    std::fs::write(&notzip, b"this is plain text").unwrap();
    let e = message(Dataset::open(&config(&notzip, dir.path())).unwrap_err());
    assert!(e.contains("notzip.zip is not a readable zip"), "{e}");
    let e = message(Dataset::open_unlabelled(&missing).unwrap_err());
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn cache_is_reused_and_rebuilt_when_the_source_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let tiles = real_tiles(8);
    let z = kaggle_zip(dir.path(), &tiles, &labels_csv(&tiles));
    let mut cfg = config(&z, &cache_dir);
    cfg.cache = true;
    let a = Dataset::open(&cfg).unwrap();
    assert!(a.is_cached() && a.report().cache_built);
    let b = Dataset::open(&cfg).unwrap();
    assert!(
        !b.report().cache_built,
        "an unchanged source reuses the cache"
    );
    assert_eq!(a.ids(), b.ids());
    assert_eq!(a.reader().tile(3).unwrap(), b.reader().tile(3).unwrap());
    drop((a, b));
    // Same bytes, only the modification time moved: the mtime alone marks the cache
    // stale. Set explicitly, as a rewrite can land in the same mtime tick.
    let zip = std::fs::File::options().write(true).open(&z).unwrap();
    let mtime = zip.metadata().unwrap().modified().unwrap();
    zip.set_modified(mtime - std::time::Duration::from_secs(3600))
        .unwrap();
    drop(zip);
    let touched = Dataset::open(&cfg).unwrap();
    assert!(
        touched.report().cache_built,
        "a source with a new mtime rebuilds the cache"
    );
    assert_eq!(touched.len(), 8);
    drop(touched);
    // Same path, different content (size and labels differ too): rebuilt, with the new tiles.
    let fewer = &tiles[..5];
    kaggle_zip(dir.path(), fewer, &labels_csv(fewer));
    let c = Dataset::open(&cfg).unwrap();
    assert!(c.report().cache_built);
    assert_eq!(c.len(), 5);
    // One cache file per source, no temporary files left behind.
    let files: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // A damaged cache file is rebuilt, not trusted.
    let path = c.report().cache.unwrap();
    drop(c);
    std::fs::write(&path, b"garbage").unwrap();
    let d = Dataset::open(&cfg).unwrap();
    assert!(d.report().cache_built);
    assert_eq!(d.len(), 5);
}

#[test]
fn limit_takes_a_stratified_seeded_subset() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(20);
    let z = kaggle_zip(dir.path(), &tiles, &labels_csv(&tiles));
    let mut cfg = config(&z, dir.path());
    cfg.limit = 10;
    let a = Dataset::open(&cfg).unwrap();
    assert_eq!(a.report().label_counts, [5, 5]);
    assert_eq!(a.ids(), Dataset::open(&cfg).unwrap().ids());
    cfg.split.seed += 1;
    assert_ne!(a.ids(), Dataset::open(&cfg).unwrap().ids());
}

#[test]
fn unlabelled_test_sets() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(5);
    let mut sub = String::from("id,label\n");
    // Submission order differs from the listing order and is kept.
    for (id, _, _) in tiles.iter().rev() {
        sub.push_str(&format!("{id},0\n"));
    }
    let mut members = vec![("sample_submission.csv".to_string(), sub.into_bytes())];
    for (id, _, b) in &tiles {
        members.push((format!("test/{id}.tif"), b.clone()));
    }
    let z = dir.path().join("test.zip");
    write_zip(&z, &members);
    let ds = Dataset::open_unlabelled(&z).unwrap();
    assert_eq!(ds.len(), 5);
    assert_eq!(ds.ids()[0], tiles[4].0);
    assert!(ds.labels().is_empty() && ds.label(0).is_none());
    assert!(ds.reader().tile(0).unwrap().is_some());
    // A plain folder, no submission file: sorted listing.
    let folder = dir.path().join("t");
    std::fs::create_dir(&folder).unwrap();
    for (id, _, b) in &tiles {
        std::fs::write(folder.join(format!("{id}.tif")), b).unwrap();
    }
    let ds = Dataset::open_unlabelled(&folder).unwrap();
    let mut sorted: Vec<String> = tiles.iter().map(|t| t.0.clone()).collect();
    sorted.sort();
    assert_eq!(ds.ids(), sorted);
}

#[test]
fn several_sources_are_one_set_and_a_repeated_id_names_both_sources() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(10);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let zip = kaggle_zip(&a, &tiles[..6], &labels_csv(&tiles[..6]));
    let folder = kaggle_folder(&b, &tiles[6..], &labels_csv(&tiles[6..]));
    let mut cfg = config(&zip, &dir.path().join("cache"));
    cfg.source = Sources(vec![
        zip.display().to_string(),
        folder.display().to_string(),
    ]);
    let ds = Dataset::open(&cfg).unwrap();
    assert_eq!(ds.len(), 10);
    let r = ds.report();
    let per: Vec<usize> = r.sources.iter().map(|s| s.tiles).collect();
    assert_eq!(per, [6, 4]);
    assert_eq!(r.label_counts, [5, 5]);
    // The tiles of both sources decode, in the order given.
    let mut reader = ds.reader();
    for i in [0, 9] {
        assert!(reader.tile(i).unwrap().is_some());
    }
    assert_eq!(ds.ids()[9], tiles[9].0);
    drop(reader);
    // One cache for the pair, reused; its tiles are the streamed ones.
    cfg.cache = true;
    let built = Dataset::open(&cfg).unwrap();
    assert!(built.report().cache_built);
    let reused = Dataset::open(&cfg).unwrap();
    assert!(!reused.report().cache_built);
    assert_eq!(reused.report().sources[1].tiles, 4);
    assert_eq!(
        reused.reader().tile(8).unwrap(),
        ds.reader().tile(8).unwrap()
    );
    let name = built.report().cache.unwrap();
    assert!(
        name.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("kaggle+kaggle-"),
        "{}",
        name.display()
    );
    // A tile in both sources: refused, naming both and the id.
    let c = dir.path().join("c");
    std::fs::create_dir_all(&c).unwrap();
    let overlap = kaggle_folder(&c, &tiles[4..], &labels_csv(&tiles[4..]));
    cfg.source = Sources(vec![
        zip.display().to_string(),
        overlap.display().to_string(),
    ]);
    let e = message(Dataset::open(&cfg).unwrap_err());
    assert!(
        e.contains("data.source[1]")
            && e.contains("data.source[0]")
            && e.contains(&tiles[4].0)
            && e.contains("unique"),
        "{e}"
    );
    // A missing second source is named by its place in the list.
    cfg.source = Sources(vec![zip.display().to_string(), "nope.zip".into()]);
    let e = message(Dataset::open(&cfg).unwrap_err());
    assert!(
        e.contains("data.source[1]") && e.contains("nope.zip does not exist"),
        "{e}"
    );
}

#[test]
fn the_bundled_extra_set_is_shipped_and_combines_with_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(std::path::Path::new("x"), dir.path());
    cfg.source = Sources(vec!["bundled".into(), "bundled-extra".into()]);
    // Listing and matching only (no cache): every id is unique across the two.
    let ds = Dataset::open(&cfg).unwrap();
    assert_eq!(ds.len(), 3850 + 18_449);
    let r = ds.report();
    assert_eq!(r.sources[1].label_counts, [9461, 8988]);
    assert_eq!(r.label_counts, [2282 + 9461, 1568 + 8988]);
    // Its JPEG tiles decode as 96x96 RGB.
    assert!(ds.reader().tile(3850).unwrap().is_some());
}

#[test]
fn a_group_column_keeps_its_values_and_bad_group_rows_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(6);
    let mut csv = String::from("id,label,slide\n");
    for (k, (id, l, _)) in tiles.iter().enumerate() {
        csv.push_str(&format!("{id},{l},s{}\n", k / 2));
    }
    let z = kaggle_zip(dir.path(), &tiles, &csv);
    let mut cfg = config(&z, dir.path());
    // Without `group` the extra column is ignored.
    assert!(Dataset::open(&cfg).unwrap().groups().is_none());
    cfg.split.group = "slide".into();
    let ds = Dataset::open(&cfg).unwrap();
    let groups = ds.groups().unwrap();
    let at = |id: &str| ds.ids().iter().position(|x| x == id).unwrap();
    assert_eq!(groups[at(&tiles[3].0)], "s1");
    assert_eq!(groups[at(&tiles[4].0)], "s2");
    // The groups follow the ids through the cache.
    cfg.cache = true;
    let cached = Dataset::open(&cfg).unwrap();
    assert!(cached.is_cached());
    assert_eq!(cached.groups().unwrap(), groups);

    cfg.cache = false;
    cfg.split.group = "patient".into();
    let e = message(Dataset::open(&cfg).unwrap_err());
    assert!(
        e.contains("kaggle.zip:train_labels.csv line 1")
            && e.contains("no column \"patient\"")
            && e.contains("id, label, slide"),
        "{e}"
    );
    cfg.split.group = "slide".into();
    let rows: Vec<&str> = csv.lines().collect();
    let empty = format!("{}\n{}\n{},{},\n", rows[0], rows[1], tiles[1].0, tiles[1].1);
    kaggle_zip(dir.path(), &tiles[..2], &empty);
    let e = message(Dataset::open(&cfg).unwrap_err());
    assert!(e.contains("line 3: empty slide for id"), "{e}");
    let short = format!("{}\n{}\n{},{}\n", rows[0], rows[1], tiles[1].0, tiles[1].1);
    kaggle_zip(dir.path(), &tiles[..2], &short);
    let e = message(Dataset::open(&cfg).unwrap_err());
    assert!(
        e.contains("line 3: no slide for id") && e.contains("column 3"),
        "{e}"
    );
}
