//! `histoboard data inspect|bench`: a data set's contents, and the loader's speed.

use anyhow::Result;

use histoboard::data;

use crate::DataCmd;

pub fn run(cmd: DataCmd) -> Result<()> {
    let stdout = std::io::stdout();
    match cmd {
        DataCmd::Inspect { paths } => {
            data::inspect(&paths, &mut stdout.lock(), &data::InspectOptions::default())
        }
        DataCmd::Bench { paths } => {
            data::bench(&paths, &data::BenchOptions::default(), &mut stdout.lock()).map(|_| ())
        }
    }
}
