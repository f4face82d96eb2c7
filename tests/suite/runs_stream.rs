//! The event stream on disk: writer, tailer and metrics.csv.

use std::fs::OpenOptions;
use std::io::Write;

use histoboard::runs::{
    DataSummary, Event, EventWriter, LogLevel, METRICS_CSV_HEADER, Record, RunPaths,
    SCHEMA_VERSION, Tail, TailError, synthetic_epoch,
};

fn started(start_epoch: usize) -> Event {
    Event::Started {
        run_id: "r".into(),
        experiment: "exp".into(),
        config: "name = \"exp\"\n".into(),
        device: "CPU".into(),
        epochs: 3,
        batches: 10,
        data: DataSummary::default(),
        start_epoch,
        pid: 1,
        host: String::new(),
        metric: "valid_auc".into(),
    }
}

fn log(message: &str) -> Event {
    Event::Log {
        level: LogLevel::Info,
        message: message.into(),
    }
}

fn ok(results: Vec<Result<Record, TailError>>) -> Vec<Record> {
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("unexpected tail error: {e}")))
        .collect()
}

#[test]
fn writer_and_tailer_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-1");
    let mut w = EventWriter::create(&run).unwrap();
    let mut tail = Tail::new(RunPaths::new(&run).events());
    assert!(tail.poll().is_empty(), "nothing written yet");

    // serde_json's default float parser may differ from the written value in the last digit, so
    // exact comparison needs values that print exactly; real metrics are checked within 1e-12.
    let mut s = synthetic_epoch(1, 3, 7);
    let real = s.clone();
    let dyadic = |m: &mut histoboard::metrics::Metrics| {
        for v in [
            &mut m.loss,
            &mut m.accuracy,
            &mut m.precision,
            &mut m.recall,
            &mut m.specificity,
            &mut m.f1,
            &mut m.auc,
            &mut m.average_precision,
            &mut m.youden_threshold,
        ] {
            *v = (*v * 1024.0).round() / 1024.0;
        }
    };
    dyadic(&mut s.train);
    dyadic(&mut s.valid);
    (s.lr, s.duration_s, s.images_per_sec) = (0.5, 30.25, 512.0);
    let sent = vec![
        started(0),
        log("hello"),
        Event::Epoch(s),
        Event::Epoch(real.clone()),
    ];
    for e in &sent {
        w.emit(e.clone()).unwrap();
    }
    let got = ok(tail.poll());
    assert_eq!(got.len(), 4);
    for (rec, e) in got.iter().zip(&sent[..3]) {
        assert_eq!(rec.v, SCHEMA_VERSION);
        assert!(rec.t > 1.6e9, "a wall-clock time");
        assert_eq!(&rec.event, e);
    }
    let Event::Epoch(back) = &got[3].event else {
        panic!("expected an epoch, got {:?}", got[3].event)
    };
    assert_eq!(back.valid.confusion, real.valid.confusion);
    assert_eq!(
        back.valid.roc, real.valid.roc,
        "f32 points round-trip exactly"
    );
    for (a, b) in [
        (back.valid.auc, real.valid.auc),
        (back.train.loss, real.train.loss),
        (back.duration_s, real.duration_s),
    ] {
        assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
    }
    assert!(tail.poll().is_empty(), "a second poll reads nothing new");
    assert!(tail.is_idle());

    w.emit(log("more")).unwrap();
    assert!(!tail.is_idle());
    let got = ok(tail.poll());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event, log("more"));
}

#[test]
fn create_refuses_an_existing_stream_and_append_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(dir.path()).unwrap();
    w.emit(started(0)).unwrap();
    drop(w);
    let err = EventWriter::create(dir.path()).err().expect("must refuse");
    assert!(format!("{err:#}").contains("events.jsonl"), "{err:#}");

    let mut w = EventWriter::append(dir.path()).unwrap();
    w.emit(log("resumed")).unwrap();
    let got = ok(Tail::new(RunPaths::new(dir.path()).events()).poll());
    assert_eq!(got.len(), 2);

    let missing = dir.path().join("nope");
    let err = EventWriter::append(&missing)
        .err()
        .expect("nothing to resume");
    assert!(format!("{err:#}").contains("nope"), "{err:#}");
}

#[test]
fn partial_lines_wait_for_their_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let line = serde_json::to_string(&Record {
        v: SCHEMA_VERSION,
        t: 1.0,
        event: log("split across writes"),
    })
    .unwrap();
    let (head, rest) = line.split_at(line.len() / 2);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let mut tail = Tail::new(&path);
    f.write_all(head.as_bytes()).unwrap();
    assert!(tail.poll().is_empty(), "half a line is not an event yet");
    f.write_all(rest.as_bytes()).unwrap();
    assert!(tail.poll().is_empty(), "still no newline");
    f.write_all(b"\n").unwrap();
    let got = ok(tail.poll());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event, log("split across writes"));
    assert_eq!(tail.offset(), line.len() as u64 + 1);
}

#[test]
fn malformed_line_names_file_and_line_and_tailing_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let good = |m: &str| {
        serde_json::to_string(&Record {
            v: SCHEMA_VERSION,
            t: 1.0,
            event: log(m),
        })
        .unwrap()
    };
    let text = format!(
        "{}\n{{\"v\":1,\"t\":2,\"type\":\"epoch\",\"broken\n\n{}\n",
        good("a"),
        good("b")
    );
    std::fs::write(&path, text).unwrap();
    let got = Tail::new(&path).poll();
    assert_eq!(got.len(), 3);
    assert!(
        got[0].is_ok() && got[2].is_ok(),
        "good lines around the bad one load"
    );
    let err = got[1].as_ref().unwrap_err();
    assert!(
        matches!(err, TailError::Malformed { line: 2, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("events.jsonl:2:"), "{msg}");
}

#[test]
fn unknown_schema_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(
        &path,
        "{\"v\":99,\"t\":1,\"type\":\"log\",\"level\":\"info\",\"message\":\"x\"}\n\
         {\"v\":2,\"t\":1,\"type\":\"brand_new\"}\n",
    )
    .unwrap();
    let got = Tail::new(&path).poll();
    assert_eq!(got.len(), 2);
    match &got[0] {
        Err(TailError::Version {
            found: 99, line: 1, ..
        }) => {}
        other => panic!("expected a version error, got {other:?}"),
    }
    match &got[1] {
        Err(
            e @ TailError::Version {
                found: 2, line: 2, ..
            },
        ) => {
            assert!(e.to_string().contains("version 2 is not supported"), "{e}")
        }
        other => panic!("a newer shape must read as a version error, got {other:?}"),
    }
}

#[test]
fn truncated_or_replaced_file_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    let path = RunPaths::new(run).events();
    let mut w = EventWriter::create(run).unwrap();
    for i in 0..5 {
        w.emit(log(&format!("old {i}"))).unwrap();
    }
    drop(w);
    let mut tail = Tail::new(&path);
    assert_eq!(ok(tail.poll()).len(), 5);

    // Truncated in place, then one short line written.
    std::fs::write(&path, "").unwrap();
    let (got, restarted) = tail.poll_detect_restart();
    assert!(got.is_empty());
    assert!(restarted, "a shrunk file restarts the tail");
    let mut w = EventWriter::append(run).unwrap();
    w.emit(log("new 0")).unwrap();
    let got = ok(tail.poll());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event, log("new 0"));

    // Replaced by a longer file (new inode): size alone would not reveal it.
    let tmp = run.join("replacement");
    let mut text = String::new();
    for i in 0..3 {
        text += &serde_json::to_string(&Record {
            v: SCHEMA_VERSION,
            t: 1.0,
            event: log(&format!("replaced {i}")),
        })
        .unwrap();
        text.push('\n');
    }
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let (got, restarted) = tail.poll_detect_restart();
    assert!(restarted);
    let got = ok(got);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].event, log("replaced 0"));
}

#[test]
fn missing_file_reads_as_empty_until_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let mut tail = Tail::new(dir.path().join("events.jsonl"));
    assert!(tail.poll().is_empty());
    let mut w = EventWriter::create(dir.path()).unwrap();
    w.emit(log("first")).unwrap();
    assert_eq!(ok(tail.poll()).len(), 1);
}

#[test]
fn metrics_csv_has_one_row_per_epoch_and_resume_replaces_repeated_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RunPaths::new(dir.path());
    let mut w = EventWriter::create(dir.path()).unwrap();
    w.emit(started(0)).unwrap();
    let mut summaries = Vec::new();
    for epoch in 1..=3 {
        let mut s = synthetic_epoch(epoch, 3, 1);
        s.is_best = epoch == 2;
        w.emit(Event::Batch {
            epoch,
            batch: 1,
            batches: 1,
            loss: 0.5,
            lr: 1e-3,
            images_per_sec: 10.0,
        })
        .unwrap();
        w.emit(Event::Epoch(s.clone())).unwrap();
        summaries.push(s);
    }
    drop(w);

    let mut reader = csv::Reader::from_path(paths.metrics_csv()).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.join(","), METRICS_CSV_HEADER);
    assert_eq!(header.len(), 16);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "batch events add no rows");
    for (row, s) in rows.iter().zip(&summaries) {
        let col = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
        assert_eq!(col("epoch"), s.epoch.to_string());
        assert_eq!(col("valid_auc").parse::<f64>().unwrap(), s.valid.auc);
        assert_eq!(col("train_loss").parse::<f64>().unwrap(), s.train.loss);
        assert_eq!(
            col("valid_average_precision").parse::<f64>().unwrap(),
            s.valid.average_precision
        );
        assert_eq!(col("is_best"), s.is_best.to_string());
    }

    // Resume from the epoch-1 checkpoint: epochs 2 and 3 will be run again.
    let mut w = EventWriter::append(dir.path()).unwrap();
    w.emit(started(1)).unwrap();
    let text = std::fs::read_to_string(paths.metrics_csv()).unwrap();
    assert_eq!(
        text.lines().count(),
        2,
        "header and epoch 1 remain:\n{text}"
    );
    w.emit(Event::Epoch(synthetic_epoch(2, 3, 9))).unwrap();
    let text = std::fs::read_to_string(paths.metrics_csv()).unwrap();
    let epochs: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, ["1", "2"]);
}
