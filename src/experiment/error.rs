//! The experiment loader's error: where (file, line, column, field) and what.

use std::fmt;
use std::path::{Path, PathBuf};

/// An error in an experiment file, an `extends` chain or a `--set` override.
///
/// Displayed as `file:line:col: message` (the location parts that are known);
/// the message itself names the field (`train.lr`) where one is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentError {
    /// The experiment file the error is in (None for a bare `validate`).
    pub file: Option<PathBuf>,
    /// 1-based line, when the error points into the file.
    pub line: Option<usize>,
    /// 1-based column in characters, when the error points into the file.
    pub col: Option<usize>,
    /// The dotted field path (`train.early_stopping.metric`), when one is involved.
    pub field: Option<String>,
    pub message: String,
}

impl ExperimentError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ExperimentError {
            file: None,
            line: None,
            col: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ExperimentError {
            field: Some(field.into()),
            ..ExperimentError::new(message)
        }
    }

    pub(crate) fn in_file(mut self, file: &Path) -> Self {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
        }
        self
    }

    /// Point at a byte offset of `text` (the content of `self.file`).
    pub(crate) fn at_offset(mut self, text: &str, offset: usize) -> Self {
        let (line, col) = line_col(text, offset);
        self.line = Some(line);
        self.col = Some(col);
        self
    }
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(col) = self.col {
                    write!(f, ":{col}")?;
                }
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ExperimentError {}

/// 1-based (line, column) of a byte offset; the column counts characters.
/// Offsets past the end (toml reports end-of-input that way) clamp to the end.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Edit distance (insertions, deletions, substitutions, and swaps of two
/// neighbouring characters, the commonest typo), for "did you mean".
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: the one two back is needed for swaps.
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            let mut d = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(prev2[j - 1] + 1);
            }
            cur[j + 1] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate nearest to `word`, if it is close enough to be a plausible
/// typo. Ties go to a candidate with the same letters (a swap: `hde` -> `hed`).
pub(crate) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word_l = word.to_lowercase();
    let letters = |s: &str| {
        let mut v: Vec<char> = s.chars().collect();
        v.sort_unstable();
        v
    };
    let word_letters = letters(&word_l);
    let (best, dist) = candidates
        .iter()
        .map(|c| {
            let c_l = c.to_lowercase();
            let d = levenshtein(&word_l, &c_l);
            (*c, d, letters(&c_l) != word_letters)
        })
        .min_by_key(|(_, d, not_anagram)| (*d, *not_anagram))
        .map(|(c, d, _)| (c, d))?;
    // A third of the length (at least 1, at most 3) keeps "lrr" -> "lr" and
    // "epoch" -> "epochs" but not "foo" -> "lr".
    let limit = (word.chars().count() / 3).clamp(1, 3);
    (dist <= limit).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let text = "a = 1\nbé = 2\nc";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, 9), (2, 3));
        assert_eq!(line_col(text, 1000), (3, 2));
        // Inside a multi-byte character: clamps back to its start.
        assert_eq!(line_col(text, 8), (2, 2));
    }

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("lrr", "lr"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
        assert_eq!(levenshtein("hde", "hed"), 1);
        assert_eq!(levenshtein("ab", "ba"), 1);
    }

    #[test]
    fn nearest_is_picky() {
        let c = ["lr", "epochs", "batch_size"];
        assert_eq!(nearest("lrr", &c), Some("lr"));
        assert_eq!(nearest("epoch", &c), Some("epochs"));
        assert_eq!(nearest("batchsize", &c), Some("batch_size"));
        assert_eq!(nearest("zzzzzz", &c), None);
        assert_eq!(nearest("hde", &["hue", "hed"]), Some("hed"));
    }

    #[test]
    fn display_has_location() {
        let e = ExperimentError {
            file: Some("x.toml".into()),
            line: Some(3),
            col: Some(7),
            field: Some("train.lr".into()),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "x.toml:3:7: bad");
        assert_eq!(ExperimentError::new("bad").to_string(), "bad");
    }
}
