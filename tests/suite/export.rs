//! Charts and tables exported to files: what a user pastes into a report.

use histoboard::runs::{RunsWatcher, write_synthetic_run};

#[test]
fn a_comparison_exports_as_svg_png_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    write_synthetic_run(&runs.join("a"), "exp", 6, 2, 1000.0).unwrap();
    write_synthetic_run(&runs.join("b"), "exp", 4, 2, 2000.0).unwrap();
    let mut w = RunsWatcher::new(&runs);
    w.poll();
    let states: Vec<_> = ["a", "b"].iter().map(|id| w.get(id).unwrap()).collect();
    let out = dir.path().join("out");
    let files = histoboard::export::write_all(&states, &out, 0.0).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "curves.svg",
        "curves.png",
        "roc.svg",
        "roc.png",
        "confusion-a.png",
        "confusion-b.svg",
        "compare.csv",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    // The PNG decodes and is not blank: the two runs' colours are on it.
    let png = image::open(out.join("curves.png")).unwrap().to_rgb8();
    assert_eq!(png.width(), 1000);
    let has = |c: [u8; 3]| png.pixels().any(|p| p.0 == c);
    assert!(has([0, 114, 178]) && has([213, 94, 0]), "both runs drawn");
    let svg = std::fs::read_to_string(out.join("roc.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.matches("<polyline").count() >= 3,
        "{svg}"
    );
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("run,") && lines[0].contains("AUC"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("b,") && lines[2].contains("4/4"),
        "{csv}"
    );
    // Nothing to export is an error, not an empty folder.
    assert!(histoboard::export::write_all(&[], &out, 0.0).is_err());
}
