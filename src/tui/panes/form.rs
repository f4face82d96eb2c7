//! The hyper-parameter form over one experiment: step or type values, then launch the
//! variant or save it as a new file of `experiments/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ratatui::prelude::*;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{launcher_kind, step_index};
use crate::experiment::Experiment;
use crate::tui::action::{Action, Effect};
use crate::tui::app::App;
use crate::tui::experiments::{self, ExpEntry, FieldView};
use crate::tui::layout;
use crate::tui::theme::Theme;

/// The hyper-parameter form over one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct FormState {
    /// The file it came from (comments are kept when saving a variant).
    pub source: PathBuf,
    pub experiment: Experiment,
    pub fields: Vec<FieldView>,
    pub selected: usize,
    /// Text being typed for the selected field.
    pub editing: Option<String>,
    /// File name being typed for "save as".
    pub saving: Option<String>,
    /// Last outcome: (is_error, text).
    pub message: Option<(bool, String)>,
    /// Why the last value taken is unusual (a learning rate of 2): accepted, but said.
    pub warning: Option<String>,
    /// Keys changed since the form opened.
    pub changed: BTreeSet<String>,
}

impl FormState {
    pub fn selected_field(&self) -> Option<&FieldView> {
        self.fields.get(self.selected)
    }

    /// A form over the file's (first) experiment, or why there is none.
    fn open(e: &ExpEntry) -> Result<FormState, String> {
        let exps = match &e.result {
            Ok(exps) if !exps.is_empty() => exps,
            Ok(_) => return Err(format!("{} has no experiments", e.file_name())),
            Err(err) => return Err(format!("{} is invalid: {}", e.file_name(), err.describe())),
        };
        let experiment = exps[0].clone();
        let fields = experiments::fields(&experiment);
        let note = (exps.len() > 1).then(|| {
            (
                false,
                format!(
                    "sweep of {} runs: editing the first; its variant is a single run",
                    exps.len()
                ),
            )
        });
        Ok(FormState {
            source: e.path.clone(),
            // Start on the learning rate, the field people come to nudge.
            selected: fields.iter().position(|x| x.key == "train.lr").unwrap_or(0),
            fields,
            experiment,
            editing: None,
            saving: None,
            message: note,
            warning: None,
            changed: BTreeSet::new(),
        })
    }

    /// Shows the outcome of an edit of `key`; true when it took.
    fn edited(&mut self, key: String, result: Result<(), String>) -> bool {
        self.warning = None;
        match result {
            Ok(()) => {
                self.fields = experiments::fields(&self.experiment);
                let v = self.fields.iter().find(|x| x.key == key);
                let v = v.map(|x| x.value.as_str()).unwrap_or_default();
                self.message = Some((false, format!("{key} = {v}")));
                self.warning = experiments::warning(&self.experiment, &key);
                self.changed.insert(key);
                true
            }
            Err(e) => {
                self.message = Some((true, e));
                false
            }
        }
    }

    /// Moving between fields, stepping values, and starting to type a value or a name.
    fn on_key(&mut self, action: Action, existing: &BTreeSet<String>) {
        let n = self.fields.len();
        match action {
            Action::Up => self.selected = step_index(self.selected, -1, n),
            Action::Down => self.selected = step_index(self.selected, 1, n),
            Action::PageUp => self.selected = step_index(self.selected, -10, n),
            Action::PageDown => self.selected = step_index(self.selected, 10, n),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = n.saturating_sub(1),
            Action::StepUp | Action::StepDown => {
                if let Some(key) = self.selected_field().map(|x| x.key.clone()) {
                    let r = experiments::step(&mut self.experiment, &key, action == Action::StepUp);
                    self.edited(key, r);
                }
            }
            Action::EditValue => {
                self.editing = self.selected_field().map(|x| x.value.clone());
                self.message = None;
            }
            Action::SaveVariant => {
                let stem = self
                    .source
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| self.experiment.name.clone());
                self.saving = Some(variant_name(&stem, existing));
                self.message = None;
            }
            _ => {}
        }
    }

    /// Typing a value (`editing`) or a file name (`saving`).
    fn on_input(&mut self, action: Action, exp_dir: &Path) -> Vec<Effect> {
        let buf = match (&mut self.editing, &mut self.saving) {
            (Some(b), _) | (None, Some(b)) => b,
            (None, None) => return Vec::new(),
        };
        match action {
            Action::Char(c) => buf.push(c),
            Action::Backspace => {
                buf.pop();
            }
            Action::ClearInput => buf.clear(),
            Action::Back => {
                self.editing = None;
                self.saving = None;
                self.message = None;
            }
            Action::Submit => {
                if let Some(text) = self.editing.clone() {
                    let Some(key) = self.selected_field().map(|x| x.key.clone()) else {
                        return Vec::new();
                    };
                    let r = experiments::set(&mut self.experiment, &key, text.trim());
                    // Refused on the spot, the text stays so it can be corrected.
                    if self.edited(key, r) {
                        self.editing = None;
                    }
                } else if let Some(name) = self.saving.clone() {
                    return match checked_file_name(name.trim()) {
                        Ok(file) => {
                            let mut experiment = self.experiment.clone();
                            // Runs are named after the experiment: the variant gets its own name.
                            experiment.name = file.trim_end_matches(".toml").to_string();
                            self.saving = None;
                            self.message = Some((false, format!("saving {file}...")));
                            vec![Effect::SaveVariant {
                                original: self.source.clone(),
                                new_path: exp_dir.join(&file),
                                experiment: Box::new(experiment),
                            }]
                        }
                        Err(e) => {
                            self.message = Some((true, e));
                            Vec::new()
                        }
                    };
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

/// Opens the form on the selected experiment (or says why it cannot).
pub fn open(app: &mut App) {
    let Some(e) = app.selected_experiment() else {
        return;
    };
    match FormState::open(e) {
        Ok(form) => app.form = Some(form),
        Err(why) => app.message = Some((true, why)),
    }
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back => app.form = None,
        Action::ToggleHelp => app.help = Some(0),
        Action::Launch | Action::LaunchDetached | Action::LaunchSlurm => {
            let Some(f) = &app.form else {
                return Vec::new();
            };
            let kind = launcher_kind(&action, f.experiment.launcher);
            let (exp, source) = (f.experiment.clone(), f.source.clone());
            let effects = app.launch(vec![exp], source, kind);
            // The form covers the header: the outcome shows in the form too.
            if let (Some(f), Some(m)) = (&mut app.form, &app.message) {
                f.message = Some(m.clone());
            }
            return effects;
        }
        other => {
            let existing: BTreeSet<String> =
                app.experiments.iter().map(|e| e.file_name()).collect();
            if let Some(f) = &mut app.form {
                f.on_key(other, &existing);
            }
        }
    }
    Vec::new()
}

pub fn on_input(app: &mut App, action: Action) -> Vec<Effect> {
    let exp_dir = app.experiments_dir();
    match &mut app.form {
        Some(f) => f.on_input(action, &exp_dir),
        None => Vec::new(),
    }
}

/// `<stem>-2.toml`, or the next free number (`base-2` becomes `base-3`).
fn variant_name(stem: &str, existing: &BTreeSet<String>) -> String {
    let root = match stem.rsplit_once('-') {
        Some((r, n)) if n.parse::<u32>().is_ok() => r,
        _ => stem,
    };
    (2..)
        .map(|i| format!("{root}-{i}.toml"))
        .find(|n| !existing.contains(n))
        .unwrap_or_else(|| format!("{root}-new.toml"))
}

/// A bare file name for `experiments/`, `.toml` added when missing.
fn checked_file_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("type a file name".into());
    }
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(format!(
            "{name:?}: a plain file name, saved in experiments/"
        ));
    }
    Ok(
        if Path::new(name).extension().is_some_and(|e| e == "toml") {
            name.to_string()
        } else {
            format!("{name}.toml")
        },
    )
}

pub fn draw(f: &mut Frame, form: &FormState, t: &Theme, area: Rect) {
    let r = layout::centered(area, 100, area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    let file = form
        .source
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    let block = t.block(format!(" Edit {} ({file}) ", form.experiment.name), true);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [list, help, input, msg] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(2),
    ])
    .areas(inner);
    let visible = list.height as usize;
    let off = layout::offset(form.selected, visible);
    let key_w = form.fields.iter().map(|x| x.key.len()).max().unwrap_or(10) + 2;
    let lines: Vec<Line> = form
        .fields
        .iter()
        .enumerate()
        .skip(off)
        .take(visible)
        .map(|(i, fv)| {
            let changed = form.changed.contains(&fv.key);
            let mut line = Line::from(vec![
                Span::styled(if changed { "* " } else { "  " }, t.fg(Color::Yellow)),
                Span::styled(format!("{:<key_w$}", fv.key), t.fg(Color::Cyan)),
                Span::raw(format!("{:<24} ", fv.value)),
                Span::styled(fv.kind.clone(), t.dim()),
            ]);
            if i == form.selected {
                line = line.style(t.selected(true));
            }
            line
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list);
    if let Some(fv) = form.selected_field() {
        f.render_widget(
            Paragraph::new(fv.help.clone())
                .style(t.dim())
                .wrap(Wrap { trim: true }),
            help,
        );
    }
    let prompt = if let Some(buf) = &form.editing {
        let key = form.selected_field().map_or("", |x| x.key.as_str());
        Some(format!("{key} = {buf}_"))
    } else {
        form.saving
            .as_ref()
            .map(|buf| format!("save as experiments/{buf}_"))
    };
    if let Some(p) = prompt {
        f.render_widget(Paragraph::new(p).style(t.key()), input);
    }
    if let Some((err, m)) = &form.message {
        let mut line = vec![Span::styled(m.clone(), t.outcome(*err))];
        if let Some(w) = &form.warning {
            line.push(Span::styled(format!("  ! {w}"), t.fg(Color::Yellow)));
        }
        f.render_widget(
            Paragraph::new(Line::from(line)).wrap(Wrap { trim: true }),
            msg,
        );
    }
}
