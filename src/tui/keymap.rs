//! Key bindings as data: one table drives key handling, the `?` help overlay and the
//! hint bar, so the three can never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::{Action, DetailTab, Pane};

/// Where a binding applies. Pane contexts fall back to `Global`; the full-screen and
/// modal ones (comparison, form, prompts, help) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ctx {
    Global,
    Experiments,
    Runs,
    Detail,
    Form,
    Compare,
    Help,
    Confirm,
    /// Typing text (a form value or a file name): unbound printable keys become `Char`.
    Input,
}

impl Ctx {
    pub fn title(self) -> &'static str {
        match self {
            Ctx::Global => "Everywhere",
            Ctx::Experiments => "Experiments pane",
            Ctx::Runs => "Runs pane",
            Ctx::Detail => "Run detail",
            Ctx::Form => "Hyper-parameter form",
            Ctx::Compare => "Comparison",
            Ctx::Help => "Help",
            Ctx::Confirm => "Confirmation",
            Ctx::Input => "Typing a value",
        }
    }

    pub fn for_pane(p: Pane) -> Ctx {
        match p {
            Pane::Experiments => Ctx::Experiments,
            Pane::Runs => Ctx::Runs,
            Pane::Detail => Ctx::Detail,
        }
    }

    fn falls_back_to_global(self) -> bool {
        matches!(self, Ctx::Experiments | Ctx::Runs | Ctx::Detail)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    /// The key a label names, as [`Key::label`] writes it in ASCII: `j`, `Enter`, `C-c`.
    fn parse(label: &str) -> Option<Key> {
        if let Some(rest) = label.strip_prefix("C-") {
            let key = Key::parse(rest)?;
            return Some(Key {
                mods: KeyModifiers::CONTROL,
                ..key
            });
        }
        let code = match label {
            "Space" => KeyCode::Char(' '),
            "Enter" => KeyCode::Enter,
            "Esc" => KeyCode::Esc,
            "Tab" => KeyCode::Tab,
            "S-Tab" => KeyCode::BackTab,
            "Bksp" => KeyCode::Backspace,
            "Up" => KeyCode::Up,
            "Down" => KeyCode::Down,
            "Left" => KeyCode::Left,
            "Right" => KeyCode::Right,
            "PgUp" => KeyCode::PageUp,
            "PgDn" => KeyCode::PageDown,
            "Home" => KeyCode::Home,
            "End" => KeyCode::End,
            _ => {
                let mut chars = label.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return None,
                }
            }
        };
        Some(Key::plain(code))
    }

    /// Short label for help and hints, e.g. `j`, `Enter`, `S-Tab`, `C-c`, `↑`.
    pub fn label(&self, ascii: bool) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Up => if ascii { "Up" } else { "↑" }.into(),
            KeyCode::Down => if ascii { "Down" } else { "↓" }.into(),
            KeyCode::Left => if ascii { "Left" } else { "←" }.into(),
            KeyCode::Right => if ascii { "Right" } else { "→" }.into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("C-{base}")
        } else {
            base
        }
    }
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub ctx: Ctx,
    pub key: Key,
    pub action: Action,
    pub desc: &'static str,
    /// Shown in the one-line hint bar.
    pub hint: bool,
}

/// The whole key map, in the order help and hints list it. Keys are written as
/// [`Key::label`] writes them in ASCII, several to a binding: `"j Down"`. Left unformatted so
/// that it reads as a table, one binding a line.
#[rustfmt::skip]
pub fn bindings() -> Vec<Binding> {
    use Action as A;
    use Ctx::*;
    let mut v = Vec::new();
    let mut b = |ctx: Ctx, keys: &str, action: Action, desc: &'static str, hint: bool| {
        for label in keys.split(' ') {
            // The table is constant: a misspelt key fails every test that builds it.
            let key = Key::parse(label).unwrap_or_else(|| panic!("key map: no key {label:?}"));
            v.push(Binding { ctx, key, action: action.clone(), desc, hint });
        }
    };
    let (up, down) = ("k Up", "j Down");

    b(Global, "q", A::Quit, "quit (asks while runs are active)", true);
    b(Global, "C-c", A::Quit, "quit", false);
    b(Global, "?", A::ToggleHelp, "help", true);
    b(Global, "Tab", A::FocusNext, "next pane", true);
    b(Global, "S-Tab", A::FocusPrev, "previous pane", false);
    b(Global, up, A::Up, "move up", false);
    b(Global, down, A::Down, "move down", false);
    b(Global, "PgUp", A::PageUp, "page up", false);
    b(Global, "PgDn", A::PageDown, "page down", false);
    b(Global, "g Home", A::Top, "first (gg works too)", false);
    b(Global, "G End", A::Bottom, "last", false);
    b(Global, "1", A::Tab(DetailTab::Curves), "detail: curves", false);
    b(Global, "2", A::Tab(DetailTab::Confusion), "detail: confusion matrix", false);
    b(Global, "3", A::Tab(DetailTab::Roc), "detail: ROC curve", false);
    b(Global, "4", A::Tab(DetailTab::Config), "detail: configuration", false);
    b(Global, "5", A::Tab(DetailTab::Log), "detail: log", false);
    b(Global, "6", A::Tab(DetailTab::Errors), "detail: error gallery (the tiles it gets wrong)", false);
    b(Global, "7", A::Tab(DetailTab::Calibration), "detail: calibration (reliability, ECE)", false);
    b(Global, "C", A::OpenCompare, "compare marked runs", true);
    b(Global, "Esc", A::Back, "back", false);
    // The detail's chart and epoch keys act from the runs list too, where the detail shows.
    b(Global, "b", A::EpochBest, "best / latest epoch (tabs 2, 3, 6, 7)", false);
    b(Global, "z", A::SmoothMore, "charts: more smoothing (raw curves stay faint)", false);
    b(Global, "Z", A::SmoothLess, "charts: less smoothing", false);
    b(Global, "y", A::ToggleLogScale, "loss charts: log / linear scale", false);
    b(Global, "x", A::Export, "export charts (marked runs, else the selected)", false);
    b(Global, "v", A::GalleryView, "gallery: next group (FP / FN / uncertain)", false);
    b(Global, "O", A::ToggleSaliency, "gallery: saliency overlay on / off", false);

    b(Experiments, "l Enter", A::Launch, "launch (as its `launcher` says)", true);
    b(Experiments, "L", A::LaunchDetached, "launch detached (outlives the dashboard)", true);
    b(Experiments, "S", A::LaunchSlurm, "submit to Slurm (a sweep is one job array)", false);
    b(Experiments, "e", A::Edit, "edit hyper-parameters", true);
    b(Experiments, "/", A::StartFilter, "filter (by name, as you type; Esc clears)", true);
    b(Experiments, "n", A::NextMatch, "next match of the filter", false);
    b(Experiments, "N", A::PrevMatch, "previous match of the filter", false);
    b(Experiments, "C-d", A::HalfPageDown, "half a page down", false);
    b(Experiments, "C-u", A::HalfPageUp, "half a page up", false);

    b(Runs, "m Space", A::ToggleMark, "mark for comparison", true);
    b(Runs, "o", A::ToggleSet, "open / close a CV set (its folds under one row)", false);
    b(Runs, "c", A::Cancel, "cancel run", true);
    b(Runs, "r", A::Resume, "resume stopped run", true);
    b(Runs, "Enter", A::Focus(Pane::Detail), "open detail", false);
    b(Runs, "[ Left", A::EpochPrev, "earlier epoch (tabs 2, 3, 6, 7)", false);
    b(Runs, "] Right", A::EpochNext, "later epoch (tabs 2, 3, 6, 7)", false);
    b(Runs, "/", A::StartFilter, "filter (id, experiment, status, tags, note; Esc clears)", true);
    b(Runs, "n", A::NextMatch, "next match of the filter", false);
    b(Runs, "N", A::PrevMatch, "previous match of the filter", false);
    b(Runs, "s", A::SortNext, "sort (by the next column; remembered)", true);
    b(Runs, "S", A::SortReverse, "reverse sort", false);
    b(Runs, "a", A::Archive, "archive (the marked runs, else this one; to runs/.archive/)", true);
    b(Runs, "D", A::Delete, "delete for good (the marked runs, else this one)", false);
    b(Runs, "i", A::EditNote, "note on the run (i: n is the next match)", false);
    b(Runs, "t", A::EditTags, "tags of the run (e.g. baseline, paper)", false);
    b(Runs, "C-d", A::HalfPageDown, "half a page down", false);
    b(Runs, "C-u", A::HalfPageUp, "half a page up", false);

    b(Detail, "l Right", A::NextTab, "next tab", true);
    b(Detail, "h Left", A::PrevTab, "previous tab", true);
    b(Detail, "[", A::EpochPrev, "earlier epoch (tabs 2, 3, 6, 7)", true);
    b(Detail, "]", A::EpochNext, "later epoch (tabs 2, 3, 6, 7)", true);
    b(Detail, "m", A::ToggleMark, "mark for comparison", false);
    b(Detail, "c", A::Cancel, "cancel run", false);

    b(Form, up, A::Up, "previous field", true);
    b(Form, down, A::Down, "next field", true);
    b(Form, "PgUp", A::PageUp, "ten fields up", false);
    b(Form, "PgDn", A::PageDown, "ten fields down", false);
    b(Form, "g Home", A::Top, "first field", false);
    b(Form, "G End", A::Bottom, "last field", false);
    b(Form, "+ = Right", A::StepUp, "step value up", true);
    b(Form, "- _ Left", A::StepDown, "step value down", true);
    b(Form, "Enter", A::EditValue, "type a value", true);
    b(Form, "s", A::SaveVariant, "save as new experiment", true);
    b(Form, "l", A::Launch, "launch this variant", true);
    b(Form, "L", A::LaunchDetached, "launch detached", false);
    b(Form, "S", A::LaunchSlurm, "submit to Slurm", false);
    b(Form, "Esc q", A::Back, "leave the form", true);
    b(Form, "?", A::ToggleHelp, "help", false);

    b(Compare, "s", A::SortNext, "sort by next column", true);
    b(Compare, "S", A::SortReverse, "reverse sort", true);
    b(Compare, "m", A::ToggleMark, "unmark selected run", true);
    b(Compare, "Esc C q", A::Back, "close comparison", true);
    b(Compare, up, A::Up, "previous run", false);
    b(Compare, down, A::Down, "next run", false);
    b(Compare, "?", A::ToggleHelp, "help", true);
    b(Compare, "x", A::Export, "export the compared runs' charts (exports/)", true);
    b(Compare, "z", A::SmoothMore, "charts: more smoothing", false);
    b(Compare, "Z", A::SmoothLess, "charts: less smoothing", false);
    b(Compare, "y", A::ToggleLogScale, "loss chart: log / linear scale", false);

    b(Help, "Esc ? q", A::Back, "close help", true);
    b(Help, up, A::Up, "scroll up", false);
    b(Help, down, A::Down, "scroll down", false);
    b(Help, "PgUp", A::PageUp, "page up", false);
    b(Help, "PgDn", A::PageDown, "page down", false);
    b(Help, "g Home", A::Top, "top", false);
    b(Help, "G End", A::Bottom, "bottom", false);

    b(Confirm, "y Y", A::Yes, "yes", true);
    b(Confirm, "n N Esc", A::No, "no", true);

    b(Input, "Enter", A::Submit, "accept", true);
    b(Input, "Esc", A::Back, "cancel", true);
    b(Input, "Bksp", A::Backspace, "delete a character", false);
    b(Input, "C-u", A::ClearInput, "clear the text", true);
    v
}

/// The action a key press means in `ctx`, if any.
pub fn lookup(table: &[Binding], ctx: Ctx, ev: &KeyEvent) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    // Shift is implied by the character itself ('G', '?', '+'); only Control matters.
    let mods = ev.modifiers & KeyModifiers::CONTROL;
    let matches = |b: &&Binding, c: Ctx| b.ctx == c && b.key.code == ev.code && b.key.mods == mods;
    if let Some(b) = table.iter().find(|b| matches(b, ctx)) {
        return Some(b.action.clone());
    }
    if ctx == Ctx::Input
        && let KeyCode::Char(c) = ev.code
        && mods.is_empty()
    {
        return Some(Action::Char(c));
    }
    if ctx.falls_back_to_global() {
        return table
            .iter()
            .find(|b| matches(b, Ctx::Global))
            .map(|b| b.action.clone());
    }
    None
}

/// What a key press means in `ctx`: its action, or, for a key bound to nothing there, a hint
/// that says so (silence would leave the user guessing). Releases and bare modifiers mean nothing.
pub fn key_action(table: &[Binding], ctx: Ctx, ev: &KeyEvent) -> Option<Action> {
    if let Some(a) = lookup(table, ctx, ev) {
        return Some(a);
    }
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    let named = matches!(
        ev.code,
        KeyCode::Char(_)
            | KeyCode::F(_)
            | KeyCode::Enter
            | KeyCode::Esc
            | KeyCode::Tab
            | KeyCode::BackTab
            | KeyCode::Backspace
            | KeyCode::Up
            | KeyCode::Down
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::PageUp
            | KeyCode::PageDown
            | KeyCode::Home
            | KeyCode::End
            | KeyCode::Delete
            | KeyCode::Insert
    );
    if !named {
        return None;
    }
    let key = Key {
        code: ev.code,
        mods: ev.modifiers & KeyModifiers::CONTROL,
    };
    Some(Action::UnknownKey(key.label(false)))
}

/// One help entry: all keys bound to the same action in one context.
#[derive(Debug, Clone, PartialEq)]
pub struct HelpEntry {
    pub keys: String,
    pub desc: &'static str,
    pub hint: bool,
}

/// Bindings of one context, keys for the same action and description merged (`j/↓`).
pub fn entries(table: &[Binding], ctx: Ctx, ascii: bool) -> Vec<HelpEntry> {
    let mut out: Vec<(Action, HelpEntry)> = Vec::new();
    for b in table.iter().filter(|b| b.ctx == ctx) {
        let label = b.key.label(ascii);
        match out
            .iter_mut()
            .find(|(a, e)| *a == b.action && e.desc == b.desc)
        {
            Some((_, e)) => {
                e.keys.push('/');
                e.keys.push_str(&label);
            }
            None => out.push((
                b.action.clone(),
                HelpEntry {
                    keys: label,
                    desc: b.desc,
                    hint: b.hint,
                },
            )),
        }
    }
    out.into_iter().map(|(_, e)| e).collect()
}

/// The help overlay's lines: every context, every binding.
pub fn help_lines(table: &[Binding], ascii: bool) -> Vec<(Option<&'static str>, String)> {
    let order = [
        Ctx::Global,
        Ctx::Experiments,
        Ctx::Runs,
        Ctx::Detail,
        Ctx::Form,
        Ctx::Compare,
        Ctx::Input,
        Ctx::Confirm,
        Ctx::Help,
    ];
    let mut lines = Vec::new();
    for ctx in order {
        lines.push((Some(ctx.title()), String::new()));
        for e in entries(table, ctx, ascii) {
            lines.push((None, format!("  {:<14} {}", e.keys, e.desc)));
        }
    }
    lines
}

/// The hint bar for `ctx`: its hinted bindings, then the global ones where they apply.
pub fn hints(table: &[Binding], ctx: Ctx, ascii: bool) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = entries(table, ctx, ascii)
        .into_iter()
        .filter(|e| e.hint)
        .map(|e| (e.keys, short(e.desc)))
        .collect();
    if ctx.falls_back_to_global() {
        v.extend(
            entries(table, Ctx::Global, ascii)
                .into_iter()
                .filter(|e| e.hint)
                .map(|e| (e.keys, short(e.desc))),
        );
    }
    v
}

/// The hints that fit in `width` columns (each drawn as `keys desc` and two spaces), in order,
/// dropping from the end; `? help` is kept whatever else goes, since it leads to the rest.
pub fn fit_hints(hints: Vec<(String, &'static str)>, width: usize) -> Vec<(String, &'static str)> {
    let w = |(k, d): &(String, &str)| k.chars().count() + 1 + d.chars().count() + 2;
    let is_help = |(_, d): &(String, &str)| *d == "help";
    let help_w = hints.iter().find(|h| is_help(h)).map_or(0, w);
    let mut used = help_w;
    let mut full = false;
    let mut out = Vec::new();
    for h in hints {
        if is_help(&h) {
            out.push(h);
            continue;
        }
        // `? help` may still fit without its trailing spaces.
        if !full && used + w(&h) <= width + 2 {
            used += w(&h);
            out.push(h);
        } else {
            full = true;
        }
    }
    out
}

/// Descriptions shortened for the hint bar: the part before any parenthesis.
fn short(desc: &'static str) -> &'static str {
    desc.split(" (").next().unwrap_or(desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn key_labels_read_back() {
        for b in bindings() {
            assert_eq!(Key::parse(&b.key.label(true)), Some(b.key), "{:?}", b.key);
        }
        assert_eq!(Key::parse("Ctrl"), None);
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        let t = bindings();
        for (i, a) in t.iter().enumerate() {
            for b in &t[i + 1..] {
                assert!(
                    !(a.ctx == b.ctx && a.key == b.key),
                    "{:?} bound twice in {:?}: {:?} and {:?}",
                    a.key,
                    a.ctx,
                    a.action,
                    b.action
                );
            }
        }
    }

    #[test]
    fn pane_keys_win_over_global_and_fall_back() {
        let t = bindings();
        let l = key(KeyCode::Char('l'));
        assert_eq!(lookup(&t, Ctx::Experiments, &l), Some(Action::Launch));
        assert_eq!(lookup(&t, Ctx::Detail, &l), Some(Action::NextTab));
        let q = key(KeyCode::Char('q'));
        assert_eq!(lookup(&t, Ctx::Runs, &q), Some(Action::Quit));
        assert_eq!(lookup(&t, Ctx::Form, &q), Some(Action::Back));
        assert_eq!(lookup(&t, Ctx::Confirm, &q), None, "modal: no fall-back");
    }

    #[test]
    fn typing_turns_letters_into_chars_but_keeps_enter_and_esc() {
        let t = bindings();
        assert_eq!(
            lookup(&t, Ctx::Input, &key(KeyCode::Char('q'))),
            Some(Action::Char('q'))
        );
        assert_eq!(
            lookup(&t, Ctx::Input, &key(KeyCode::Enter)),
            Some(Action::Submit)
        );
        assert_eq!(
            lookup(&t, Ctx::Input, &key(KeyCode::Esc)),
            Some(Action::Back)
        );
    }

    #[test]
    fn shifted_characters_and_control_keys() {
        let t = bindings();
        let shifted = KeyEvent::new(KeyCode::Char('C'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&t, Ctx::Runs, &shifted), Some(Action::OpenCompare));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&t, Ctx::Runs, &ctrl_c), Some(Action::Quit));
        assert_eq!(
            lookup(&t, Ctx::Runs, &key(KeyCode::Char('c'))),
            Some(Action::Cancel)
        );
    }

    #[test]
    fn help_lists_every_binding() {
        let t = bindings();
        let text: String = help_lines(&t, false)
            .into_iter()
            .map(|(h, l)| format!("{}{}\n", h.unwrap_or(""), l))
            .collect();
        for b in &t {
            assert!(text.contains(b.desc), "help misses {:?}", b.desc);
            let line = text
                .lines()
                .find(|l| l.contains(b.desc) && l.contains(&b.key.label(false)));
            assert!(line.is_some(), "help misses key {:?} for {}", b.key, b.desc);
        }
    }

    #[test]
    fn hints_that_do_not_fit_go_but_help_stays() {
        let t = bindings();
        for ctx in [Ctx::Experiments, Ctx::Runs, Ctx::Detail, Ctx::Compare] {
            let all = hints(&t, ctx, false);
            let fitted = fit_hints(all.clone(), 80);
            let text: String = fitted.iter().map(|(k, d)| format!("{k} {d}  ")).collect();
            assert!(text.trim_end().chars().count() <= 80, "{ctx:?}: {text}");
            assert!(text.contains("? help"), "{ctx:?}: {text}");
            assert_eq!(fitted[0], all[0], "the pane's own keys come first");
        }
    }

    #[test]
    fn unbound_keys_say_so_and_vim_keys_are_bound() {
        let t = bindings();
        let amp = key(KeyCode::Char('&'));
        assert_eq!(
            key_action(&t, Ctx::Runs, &amp),
            Some(Action::UnknownKey("&".into()))
        );
        let f5 = key(KeyCode::F(5));
        assert_eq!(
            key_action(&t, Ctx::Experiments, &f5),
            Some(Action::UnknownKey("F5".into()))
        );
        let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(
            key_action(&t, Ctx::Runs, &ctrl_d),
            Some(Action::HalfPageDown)
        );
        let ctrl_u = KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL);
        assert_eq!(
            key_action(&t, Ctx::Experiments, &ctrl_u),
            Some(Action::HalfPageUp)
        );
        let g = key(KeyCode::Char('g'));
        assert_eq!(key_action(&t, Ctx::Runs, &g), Some(Action::Top));
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(key_action(&t, Ctx::Runs, &shift_g), Some(Action::Bottom));
        // Typing takes every letter, bound elsewhere or not.
        let x = key(KeyCode::Char('x'));
        assert_eq!(key_action(&t, Ctx::Input, &x), Some(Action::Char('x')));
        assert_eq!(key_action(&t, Ctx::Input, &amp), Some(Action::Char('&')));
    }

    #[test]
    fn hints_come_from_the_table() {
        let t = bindings();
        let h = hints(&t, Ctx::Experiments, true);
        assert!(h.contains(&("l/Enter".to_string(), "launch")));
        assert!(h.iter().any(|(k, d)| k == "q" && *d == "quit"));
        assert!(
            hints(&t, Ctx::Confirm, true)
                .iter()
                .all(|(_, d)| *d != "quit")
        );
    }
}
