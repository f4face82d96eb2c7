//! How the dashboard writes numbers that are not plain figures.

/// `1h02m`, `3m05s`, `12s`; `-` for what is not a duration.
pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// When a run started, as its id says it (UTC): `11-14 22:13`.
pub fn fmt_started(unix: f64) -> String {
    if !unix.is_finite() || unix < 0.0 {
        return "-".into();
    }
    // `YYYYmmdd-HHMMSS`
    let s = crate::runs::paths::utc_stamp(unix as u64);
    format!("{}-{} {}:{}", &s[4..6], &s[6..8], &s[9..11], &s[11..13])
}

/// Run ids end in `-YYYYmmdd-HHMMSS-xxxx` (`runs::new_run_id`): the part that tells runs of
/// one experiment apart.
const ID_SUFFIX: usize = 21;

fn is_id_suffix(s: &[char]) -> bool {
    let pat = "-dddddddd-dddddd-xxxx";
    s.len() == ID_SUFFIX
        && s.iter().zip(pat.chars()).all(|(c, p)| match p {
            '-' => *c == '-',
            'd' => c.is_ascii_digit(),
            _ => c.is_ascii_hexdigit(),
        })
}

/// `name` in at most `width` columns, cut in the middle so that its end stays: a run id keeps
/// its whole `-YYYYmmdd-HHMMSS-xxxx` suffix (its year dropped when even that is too long),
/// other names keep their last two thirds. `ell` marks the cut (`…`, or `~` in ASCII).
pub fn fit_middle(name: &str, width: usize, ell: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= width {
        return name.to_string();
    }
    let ell_w = ell.chars().count();
    if width <= ell_w {
        return chars[chars.len() - width..].iter().collect();
    }
    let room = width - ell_w;
    let tail: String = if chars.len() > ID_SUFFIX && is_id_suffix(&chars[chars.len() - ID_SUFFIX..])
    {
        let suffix = &chars[chars.len() - ID_SUFFIX..];
        // Keep a few letters of the name before the cut where there is room for them.
        if room >= ID_SUFFIX + 4 {
            suffix.iter().collect()
        } else {
            // `-mmdd-HHMMSS-xxxx`: the year is the part a month of runs shares.
            let short: String = suffix[..1].iter().chain(&suffix[5..]).collect();
            if room >= short.chars().count() {
                short
            } else {
                suffix[ID_SUFFIX - room..].iter().collect()
            }
        }
    } else {
        let n = room - room / 3;
        chars[chars.len() - n..].iter().collect()
    };
    let head_n = room - tail.chars().count();
    let head: String = chars[..head_n].iter().collect();
    format!("{head}{ell}{tail}")
}

/// `text` in at most `width` columns, cut at the end.
pub fn fit_end(text: &str, width: usize, ell: &str) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    let ell_w = ell.chars().count();
    if width <= ell_w {
        return text.chars().take(width).collect();
    }
    let head: String = text.chars().take(width - ell_w).collect();
    format!("{head}{ell}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_run_ids_keep_their_distinguishing_suffix() {
        let id = "effnet-lite0-transfer-20261128-015416-ad2f";
        assert_eq!(fit_middle(id, 60, "…"), id, "fits: unchanged");
        let cut = fit_middle(id, 27, "…");
        assert_eq!(cut, "effne…-20261128-015416-ad2f");
        assert_eq!(cut.chars().count(), 27);
        // Narrower: the year goes before the time and the random part do.
        assert_eq!(fit_middle(id, 22, "…"), "effn…-1128-015416-ad2f");
        assert_eq!(fit_middle(id, 10, "~"), "~5416-ad2f");
        // Other names keep their end.
        assert_eq!(
            fit_middle("a-rather-long-experiment-name", 13, "…"),
            "a-ra…ent-name"
        );
        assert_eq!(fit_end("baseline, paper", 9, "…"), "baseline…");
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(fmt_duration(5.2), "5s");
        assert_eq!(fmt_duration(185.0), "3m05s");
        assert_eq!(fmt_duration(3720.0), "1h02m");
        assert_eq!(fmt_duration(f64::NAN), "-");
        assert_eq!(fmt_started(1_700_000_000.0), "11-14 22:13");
    }
}
