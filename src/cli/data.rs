//! `histoboard data inspect|bench`: a data set's contents, and the loader's speed.

use anyhow::Result;

use histoboard::data;

use crate::DataCmd;

pub fn run(cmd: DataCmd) -> Result<()> {
    let stdout = std::io::stdout();
    match cmd {
        DataCmd::Inspect { path } => data::inspect(
            path.as_deref(),
            &mut stdout.lock(),
            &data::InspectOptions::default(),
        ),
        DataCmd::Bench { path } => data::bench(
            path.as_deref(),
            &data::BenchOptions::default(),
            &mut stdout.lock(),
        )
        .map(|_| ()),
    }
}
