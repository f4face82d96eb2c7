//! Dashboard benchmark: prints start-up and frame times over 50 finished runs of 100
//! epochs. A figure to record, not a timed test:
//! `cargo test --release --test suite -- --ignored --nocapture tui_bench`.

use histoboard::runs::fixture::write_fixture_runs;
use histoboard::tui::bench;

#[test]
#[ignore = "benchmark: prints figures"]
fn dashboard_start_up_and_frame_times() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture_runs(dir.path(), 50, 100).unwrap();
    let report = bench(dir.path()).unwrap();
    assert_eq!(report.runs, 50);
    assert_eq!(report.epochs, 5000);
    println!("tui bench: {report}");
}
