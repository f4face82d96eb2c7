//! The ROC tab: the validation ROC curve of the chosen epoch.

use ratatui::prelude::*;

use super::confusion::epoch_header;
use crate::runs::RunState;
use crate::tui::{
    app::App,
    chart::{RocCurve, roc_chart},
    theme::Theme,
};

pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    let Some((i, body)) = epoch_header(f, app, t, run, area) else {
        return;
    };
    let e = &run.completed[i];
    let curve = [RocCurve::of(0, "valid", &e.valid)];
    roc_chart(f, t, &curve, body, Some(e.epoch));
}
