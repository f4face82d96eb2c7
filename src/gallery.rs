//! The error gallery: the tiles a run gets most wrong. From per-tile predictions (a run's
//! `valid_predictions.csv` or one epoch's file, or a labelled set scored by `histoboard
//! errors --data`) it ranks the most confident false positives, the most confident false
//! negatives and the most uncertain tiles (nearest 0.5); reads their pixels through the data
//! module; lays them out as a contact sheet (a chart [`Scene`], written by the export module's
//! PNG writer and font); and keeps the saliency maps the engine computes for them. Pure of
//! burn: the dashboard's Errors tab uses it too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::data::{Dataset, SIDE, TILE_BYTES};
use crate::experiment::{BadTilePolicy, DataConfig};
use crate::export::{BLACK, GREY, Scene, encode_png};
use crate::runs::RunPaths;
use crate::runs::predictions::{self, Prediction};

/// Tiles per group when not asked otherwise.
pub const DEFAULT_TOP: usize = 8;
/// A tile is called tumour at `prob >= 0.5`, as the confusion matrices count it.
pub const THRESHOLD: f32 = 0.5;

/// The gallery's three groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    FalsePositive,
    FalseNegative,
    Uncertain,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::FalsePositive, Kind::FalseNegative, Kind::Uncertain];

    /// As written in the CSV's `kind` column.
    pub fn name(self) -> &'static str {
        match self {
            Kind::FalsePositive => "false_positive",
            Kind::FalseNegative => "false_negative",
            Kind::Uncertain => "uncertain",
        }
    }

    /// Short, for the dashboard's view switch.
    pub fn label(self) -> &'static str {
        match self {
            Kind::FalsePositive => "false positives",
            Kind::FalseNegative => "false negatives",
            Kind::Uncertain => "uncertain",
        }
    }

    /// The next group, round the three.
    pub fn next(self) -> Kind {
        match self {
            Kind::FalsePositive => Kind::FalseNegative,
            Kind::FalseNegative => Kind::Uncertain,
            Kind::Uncertain => Kind::FalsePositive,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::FalsePositive => "most confident false positives (label 0, prob >= 0.5)",
            Kind::FalseNegative => "most confident false negatives (label 1, prob < 0.5)",
            Kind::Uncertain => "most uncertain (prob nearest 0.5)",
        }
    }

    /// What an empty group means.
    pub fn none(self) -> &'static str {
        match self {
            Kind::FalsePositive => "none: no normal tile scored >= 0.5",
            Kind::FalseNegative => "none: no tumour tile scored < 0.5",
            Kind::Uncertain => "none: no tile was scored",
        }
    }
}

/// The ranked groups, each best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gallery {
    pub false_positives: Vec<Prediction>,
    pub false_negatives: Vec<Prediction>,
    pub uncertain: Vec<Prediction>,
}

impl Gallery {
    pub fn of(&self, kind: Kind) -> &[Prediction] {
        match kind {
            Kind::FalsePositive => &self.false_positives,
            Kind::FalseNegative => &self.false_negatives,
            Kind::Uncertain => &self.uncertain,
        }
    }

    /// Every tile id shown, once each, in group order.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for k in Kind::ALL {
            for p in self.of(k) {
                if !ids.contains(&p.id.as_str()) {
                    ids.push(&p.id);
                }
            }
        }
        ids
    }
}

/// Ranks `preds` into at most `top` tiles a group: false positives by falling probability,
/// false negatives by rising probability, the uncertain by distance from 0.5. Ties go to the
/// smaller id, so a gallery never changes between two readings; unscored (NaN) tiles are left
/// out. An uncertain tile may also be a false positive or negative.
pub fn rank(preds: &[Prediction], top: usize) -> Gallery {
    let pick = |keep: &dyn Fn(&Prediction) -> bool, key: &dyn Fn(&Prediction) -> f32| {
        let mut v: Vec<&Prediction> = preds
            .iter()
            .filter(|p| p.prob.is_finite() && keep(p))
            .collect();
        v.sort_by(|a, b| key(a).total_cmp(&key(b)).then_with(|| a.id.cmp(&b.id)));
        v.into_iter().take(top).cloned().collect::<Vec<_>>()
    };
    Gallery {
        false_positives: pick(&|p| p.label == 0 && p.prob >= THRESHOLD, &|p| -p.prob),
        false_negatives: pick(&|p| p.label == 1 && p.prob < THRESHOLD, &|p| p.prob),
        uncertain: pick(&|_| true, &|p| (p.prob - THRESHOLD).abs()),
    }
}

/// `kind,rank,id,label,prob`, one row a tile shown, rank from 1 in each group.
pub fn to_csv(g: &Gallery) -> String {
    let mut out = String::from("kind,rank,id,label,prob\n");
    for k in Kind::ALL {
        for (i, p) in g.of(k).iter().enumerate() {
            out.push_str(&format!(
                "{},{},{},{},{:.6}\n",
                k.name(),
                i + 1,
                p.id,
                p.label,
                p.prob
            ));
        }
    }
    out
}

/// The first 8 characters of a tile id: enough to find it again, short enough for a caption.
pub fn short_id(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(i, _)| &id[..i])
}

/// The predictions file the gallery of `epoch` ranks (`None`: the best epoch): the epoch's own
/// file, else the best epoch's `valid_predictions.csv` when that is the epoch asked for.
pub fn predictions_file(
    run_dir: &Path,
    epoch: Option<usize>,
    best_epoch: Option<usize>,
) -> Result<PathBuf> {
    let paths = RunPaths::new(run_dir);
    let best = paths.predictions();
    match epoch {
        Some(e) if paths.epoch_predictions(e).is_file() => Ok(paths.epoch_predictions(e)),
        Some(e) if Some(e) != best_epoch => bail!(
            "{} is missing: this run kept only its best epoch's predictions ({}, epoch {})",
            paths.epoch_predictions(e).display(),
            best.display(),
            best_epoch.map_or("?".into(), |b| b.to_string())
        ),
        _ if best.is_file() => Ok(best),
        _ => bail!(
            "{} is missing (a run writes it when its first epoch ends). Let it train, or score a \
             labelled set with its checkpoint: histoboard errors {} --data PATH --out DIR",
            best.display(),
            run_dir.display()
        ),
    }
}

/// Decoded 96x96 RGB tiles (HWC) for `ids` from the labelled set `data` (the run's own source,
/// or the set `--data` scored), streamed: reading a gallery's few tiles must not build a cache.
pub fn read_tiles(data: &DataConfig, ids: &[&str]) -> Result<HashMap<String, Vec<u8>>> {
    let cfg = DataConfig {
        cache: false,
        limit: 0,
        bad_tiles: BadTilePolicy::Skip,
        ..data.clone()
    };
    let ds = Dataset::open(&cfg)
        .with_context(|| format!("opening {} for the gallery's tiles", cfg.source))?;
    let index = ds.index_by_id();
    let mut reader = ds.reader();
    let mut out = HashMap::new();
    for &id in ids {
        let &i = index.get(id).with_context(|| {
            format!(
                "tile {id} is not in {} (data.source of the run's config.toml); has the data \
                 moved?",
                cfg.source
            )
        })?;
        match reader.tile(i)? {
            Some(px) => {
                out.insert(id.to_string(), px.to_vec());
            }
            None => {
                let why = ds.report().skipped.last().map(|s| s.1.clone());
                bail!("tile {id} cannot be read: {}", why.unwrap_or_default());
            }
        }
    }
    Ok(out)
}

/// Writes one tile's saliency map (`SIDE * SIDE` values in 0..=1, row-major) as a grey PNG
/// named after the tile in `dir`.
pub fn write_saliency(dir: &Path, id: &str, map: &[f32]) -> Result<()> {
    if map.len() != SIDE * SIDE {
        bail!(
            "saliency map of {id} has {} values, not {}",
            map.len(),
            SIDE * SIDE
        );
    }
    let grey: Vec<u8> = map
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let img =
        image::GrayImage::from_raw(SIDE as u32, SIDE as u32, grey).context("saliency map size")?;
    let path = dir.join(format!("{id}.png"));
    crate::runs::write_atomic(&path, &encode_png(image::DynamicImage::ImageLuma8(img))?)
}

/// The saliency maps in `dir` of the tiles `ids` that have one (grey, `SIDE * SIDE` bytes).
/// A missing folder or file means none; an unreadable one is left out too, since the overlay
/// is an aid and the gallery stands without it.
pub fn read_saliency(dir: &Path, ids: &[&str]) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    for &id in ids {
        let Ok(img) = image::open(dir.join(format!("{id}.png"))) else {
            continue;
        };
        let grey = img.into_luma8();
        if grey.width() as usize == SIDE && grey.height() as usize == SIDE {
            out.insert(id.to_string(), grey.into_raw());
        }
    }
    out
}

/// A tile (HWC RGB) with its saliency map (grey) laid over it: more salient, more red-yellow;
/// where the model did not look, the tissue shows through unchanged.
pub fn overlay(tile: &[u8], map: &[u8]) -> Vec<u8> {
    let mut out = tile.to_vec();
    for (px, &s) in out.chunks_exact_mut(3).zip(map) {
        let s = s as f32 / 255.0;
        let heat = [255.0, 255.0 * s, 0.0];
        let a = 0.75 * s;
        for c in 0..3 {
            px[c] = ((1.0 - a) * px[c] as f32 + a * heat[c]).round() as u8;
        }
    }
    out
}

/// Where a tile sits in the contact sheet: tile, gap, caption.
const CELL_W: u32 = SIDE as u32 + 12;
const CELL_H: u32 = SIDE as u32 + 34;
const MARGIN: u32 = 16;
const HEADER_H: u32 = 22;
/// The centre outline's colour (the label is about the centre 32x32).
const OUTLINE: [u8; 3] = [255, 220, 0];

/// The contact sheet: each group under its heading, tiles in rows of at most `columns`, each
/// captioned with its short id, label and probability, its centre 32x32 outlined; with
/// `saliency`, each tile that has a map shows it overlaid.
pub fn sheet(
    title: &str,
    g: &Gallery,
    tiles: &HashMap<String, Vec<u8>>,
    saliency: Option<&HashMap<String, Vec<u8>>>,
    columns: usize,
) -> Scene {
    let cols = columns.max(1) as u32;
    let rows_of = |n: usize| (n as u32).div_ceil(cols).max(1);
    let height = 2 * MARGIN
        + 20
        + Kind::ALL
            .iter()
            .map(|&k| HEADER_H + rows_of(g.of(k).len()) * CELL_H)
            .sum::<u32>();
    let width = (2 * MARGIN + cols * CELL_W).max(2 * MARGIN + 8 * title.chars().count() as u32);
    let mut s = Scene::new(width, height);
    s.text(MARGIN as f64, MARGIN as f64, title, BLACK, 1);
    let mut y = MARGIN + 20;
    for k in Kind::ALL {
        let group = g.of(k);
        s.text(MARGIN as f64, (y + 6) as f64, k.title(), BLACK, 1);
        y += HEADER_H;
        if group.is_empty() {
            s.text(MARGIN as f64, (y + 8) as f64, k.none(), GREY, 1);
        }
        for (i, p) in group.iter().enumerate() {
            let (c, r) = (i as u32 % cols, i as u32 / cols);
            let (x, ty) = (MARGIN + c * CELL_W, y + r * CELL_H);
            let (xf, yf) = (x as f64, ty as f64);
            match tiles.get(&p.id).filter(|t| t.len() == TILE_BYTES) {
                Some(px) => {
                    let px = match saliency.and_then(|m| m.get(&p.id)) {
                        Some(map) => overlay(px, map),
                        None => px.clone(),
                    };
                    s.image(xf, yf, SIDE as u32, SIDE as u32, px);
                }
                None => s.rect(xf, yf, SIDE as f64, SIDE as f64, Some([200; 3]), None),
            }
            // Just outside the centre's pixels (32..64), so the outline hides none of them.
            s.rect(xf + 31.0, yf + 31.0, 33.0, 33.0, None, Some(OUTLINE));
            s.text(xf, yf + SIDE as f64 + 4.0, short_id(&p.id), BLACK, 1);
            let caption = format!("y={} p={:.3}", p.label, p.prob);
            s.text(xf, yf + SIDE as f64 + 15.0, caption, BLACK, 1);
        }
        y += rows_of(group.len()) * CELL_H;
    }
    s
}

/// What the dashboard's Errors tab shows of one run and epoch: the ranking, from which file,
/// the tiles' pixels and the saliency maps computed for them (only with the best epoch's
/// gallery: the maps are the best checkpoint's).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub run_id: String,
    /// The epoch asked for (`None`: the best).
    pub epoch: Option<usize>,
    pub file: PathBuf,
    pub gallery: Gallery,
    pub tiles: HashMap<String, Vec<u8>>,
    pub saliency: HashMap<String, Vec<u8>>,
}

/// Reads a run's gallery for `epoch` (`None`: the best epoch) with `top` tiles a group.
pub fn load(
    run_dir: &Path,
    epoch: Option<usize>,
    best_epoch: Option<usize>,
    top: usize,
) -> Result<Loaded> {
    let file = predictions_file(run_dir, epoch, best_epoch)?;
    let gallery = rank(&predictions::read(&file)?, top);
    let exp = crate::experiment::load_run_config(run_dir)?;
    let ids = gallery.ids();
    let tiles = read_tiles(&exp.data, &ids)?;
    let best = epoch.is_none() || epoch == best_epoch;
    let saliency = if best {
        read_saliency(&RunPaths::new(run_dir).saliency("best"), &ids)
    } else {
        HashMap::new()
    };
    Ok(Loaded {
        run_id: RunPaths::new(run_dir).id(),
        epoch,
        file,
        gallery,
        tiles,
        saliency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, label: u8, prob: f32) -> Prediction {
        Prediction {
            id: id.into(),
            label,
            prob,
        }
    }

    fn ids(v: &[Prediction]) -> Vec<&str> {
        v.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn ranks_confident_mistakes_and_the_uncertain() {
        let preds = [
            p("a", 0, 0.95),
            p("b", 0, 0.55),
            p("c", 0, 0.10),
            p("d", 1, 0.02),
            p("e", 1, 0.45),
            p("f", 1, 0.99),
            p("g", 0, 0.50),
            p("h", 1, f32::NAN),
        ];
        let g = rank(&preds, 2);
        assert_eq!(ids(&g.false_positives), ["a", "b"]);
        assert_eq!(ids(&g.false_negatives), ["d", "e"]);
        // 0.50 is exactly uncertain (and a false positive at the 0.5 threshold).
        assert_eq!(ids(&g.uncertain), ["g", "b"]);
        let all = rank(&preds, 10);
        assert_eq!(ids(&all.false_positives), ["a", "b", "g"]);
        assert_eq!(all.uncertain.len(), 7, "the NaN tile is not ranked");
    }

    #[test]
    fn ties_go_to_the_smaller_id() {
        let preds = [
            p("z", 0, 0.9),
            p("m", 0, 0.9),
            p("q", 1, 0.75),
            p("a", 1, 0.25),
        ];
        let g = rank(&preds, 5);
        assert_eq!(ids(&g.false_positives), ["m", "z"]);
        // 0.75 and 0.25 are both exactly 0.25 from 0.5.
        assert_eq!(ids(&g.uncertain[..2]), ["a", "q"]);
    }

    #[test]
    fn a_one_class_set_has_one_kind_of_mistake() {
        let normal = [p("a", 0, 0.7), p("b", 0, 0.2)];
        let g = rank(&normal, 3);
        assert_eq!(ids(&g.false_positives), ["a"]);
        assert!(g.false_negatives.is_empty());
        let tumour = [p("a", 1, 0.7), p("b", 1, 0.2)];
        let g = rank(&tumour, 3);
        assert!(g.false_positives.is_empty());
        assert_eq!(ids(&g.false_negatives), ["b"]);
        assert!(rank(&[], 3).uncertain.is_empty());
    }

    #[test]
    fn csv_has_a_row_per_tile_shown() {
        let g = rank(&[p("a", 0, 0.9), p("b", 1, 0.1), p("c", 1, 0.8)], 1);
        assert_eq!(
            to_csv(&g),
            "kind,rank,id,label,prob\nfalse_positive,1,a,0,0.900000\n\
             false_negative,1,b,1,0.100000\nuncertain,1,c,1,0.800000\n"
        );
    }

    #[test]
    fn the_sheet_is_a_png_of_the_laid_out_size() {
        let preds: Vec<Prediction> = (0..10)
            .map(|i| p(&format!("tile{i:02}"), (i % 2) as u8, i as f32 / 10.0))
            .collect();
        let g = rank(&preds, 4);
        let tiles: HashMap<String, Vec<u8>> = g
            .ids()
            .into_iter()
            .map(|id| (id.to_string(), vec![90; TILE_BYTES]))
            .collect();
        let scene = sheet("run", &g, &tiles, None, 4);
        let png = scene.png().unwrap();
        let img = image::load_from_memory(&png).unwrap().into_rgb8();
        // Three groups, each one row of 4 cells under its heading.
        assert_eq!(img.width(), 2 * MARGIN + 4 * CELL_W);
        assert_eq!(img.height(), 2 * MARGIN + 20 + 3 * (HEADER_H + CELL_H));
        // The first tile's pixels, and its centre outline just outside the centre 32x32.
        let (x0, y0) = (MARGIN, MARGIN + 20 + HEADER_H);
        assert_eq!(img.get_pixel(x0 + 5, y0 + 5).0, [90; 3]);
        assert_eq!(img.get_pixel(x0 + 31, y0 + 40).0, OUTLINE);
        assert_eq!(img.get_pixel(x0 + 40, y0 + 40).0, [90; 3]);
    }

    #[test]
    fn saliency_maps_round_trip_and_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let map: Vec<f32> = (0..SIDE * SIDE).map(|i| (i % SIDE) as f32 / 95.0).collect();
        write_saliency(dir.path(), "t1", &map).unwrap();
        let read = read_saliency(dir.path(), &["t1", "absent"]);
        assert_eq!(read.len(), 1);
        let grey = &read["t1"];
        assert_eq!((grey[0], grey[SIDE - 1]), (0, 255));
        let tile = vec![0u8; TILE_BYTES];
        let o = overlay(&tile, grey);
        assert_eq!(&o[..3], &[0, 0, 0], "no saliency: the tile unchanged");
        assert!(o[3 * (SIDE - 1)] > 150, "full saliency: red");
    }
}
