//! Screen geometry, shared by drawing and mouse handling so clicks land where things are drawn.

use ratatui::layout::{Constraint, Layout, Rect};

/// The main screen's areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub experiments: Rect,
    pub runs: Rect,
    pub detail: Rect,
    pub hints: Rect,
}

/// Wide screens give the experiments a narrow column on the left, full height, and the rest to
/// the runs above the detail (both as wide as the screen allows: run names and charts need
/// width, an experiment's name does not); narrow ones (down to 80x24) put the two lists side
/// by side above the detail.
pub fn main(size: Rect) -> Areas {
    let [header, body, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(size);
    let (experiments, runs, detail) = if size.width >= 160 {
        let exp_w = (size.width / 6).clamp(24, 40);
        let [experiments, right] =
            Layout::horizontal([Constraint::Length(exp_w), Constraint::Min(0)]).areas(body);
        let [runs, detail] =
            Layout::vertical([Constraint::Length(body.height / 2), Constraint::Min(0)])
                .areas(right);
        (experiments, runs, detail)
    } else {
        let top_h = if body.height >= 36 {
            body.height * 2 / 5
        } else {
            (body.height * 2 / 5).max(7)
        };
        let [top, detail] =
            Layout::vertical([Constraint::Length(top_h), Constraint::Min(0)]).areas(body);
        let exp_w = (size.width / 4).clamp(20, 34);
        let [experiments, runs] =
            Layout::horizontal([Constraint::Length(exp_w), Constraint::Min(0)]).areas(top);
        (experiments, runs, detail)
    };
    Areas {
        header,
        experiments,
        runs,
        detail,
        hints,
    }
}

/// Rows a bordered list shows below `header_rows` header lines.
pub fn visible_rows(area: Rect, header_rows: u16) -> usize {
    area.height.saturating_sub(2 + header_rows) as usize
}

/// First row shown so that `selected` stays in view (scrolls with the selection).
pub fn offset(selected: usize, visible: usize) -> usize {
    if visible == 0 {
        0
    } else {
        selected.saturating_sub(visible - 1)
    }
}

/// The list index under screen row `row` of a bordered list, if any.
pub fn list_row(area: Rect, row: u16, selected: usize, header_rows: u16) -> Option<usize> {
    let first = area.y + 1 + header_rows;
    let visible = visible_rows(area, header_rows);
    if row < first || row >= first + visible as u16 {
        return None;
    }
    Some(offset(selected, visible) + (row - first) as usize)
}

/// A centred rectangle of at most `w` x `h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_80x24_and_uses_wide_screens() {
        let a = main(Rect::new(0, 0, 80, 24));
        assert_eq!(a.header.height + a.hints.height, 2);
        assert!(a.runs.width >= 46 && a.runs.height >= 7);
        assert!(a.detail.height >= 13);
        // The runs pane gets the width (it was a 72-column strip beside an empty experiments
        // pane), the detail keeps most of it and half the height.
        let w = main(Rect::new(0, 0, 200, 50));
        assert!(w.runs.width >= 160, "{w:?}");
        assert!(
            w.experiments.width <= 40 && w.experiments.height == 48,
            "{w:?}"
        );
        assert!(w.detail.width >= 160 && w.detail.height >= 24, "{w:?}");
    }

    #[test]
    fn clicks_map_to_rows_through_the_scroll_offset() {
        let area = Rect::new(0, 0, 30, 7); // 5 visible rows
        assert_eq!(list_row(area, 1, 0, 0), Some(0));
        assert_eq!(list_row(area, 0, 0, 0), None, "border");
        assert_eq!(list_row(area, 6, 0, 0), None, "border");
        // Selection 7 scrolls by 3: the first visible row is item 3.
        assert_eq!(list_row(area, 1, 7, 0), Some(3));
        assert_eq!(list_row(area, 2, 0, 1), Some(0), "below a header row");
    }
}
