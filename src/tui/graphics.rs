//! Images at the terminal's own resolution where it has a graphics protocol: kitty's (kitty,
//! Ghostty, Konsole, WezTerm) and iTerm2's inline images (iTerm2, WezTerm, mintty). Panes draw
//! half blocks ([`super::halfblocks`]) as always, so every terminal, the snapshot tests and a
//! screen reader see the same cells; a pane that has pictures also returns them as
//! [`Placement`]s, and the shell writes them over those cells after each frame.
//!
//! Not sixel: its palette quantisation is a codec of its own, and the terminals with sixel
//! and neither protocol above (xterm -ti vt340, foot, Windows Terminal) keep half blocks.
//! Not inside tmux or screen either: they pass these sequences on only when configured to, and
//! then to a place they do not know about; half blocks there too.

use ratatui::layout::Rect;

use crate::export::{base64, png_of};

/// A terminal graphics protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Kitty,
    Iterm2,
}

/// The protocol the terminal speaks, from its environment (`get` reads a variable):
/// `HISTOBOARD_GRAPHICS=kitty|iterm2|off` decides; else what the terminal says about itself.
pub fn detect(get: impl Fn(&str) -> Option<String>) -> Option<Protocol> {
    match get("HISTOBOARD_GRAPHICS").as_deref() {
        Some("kitty") => return Some(Protocol::Kitty),
        Some("iterm2") => return Some(Protocol::Iterm2),
        Some(_) => return None,
        None => {}
    }
    let term = get("TERM").unwrap_or_default();
    if get("TMUX").is_some() || term.starts_with("screen") || term.starts_with("tmux") {
        return None;
    }
    let program = get("TERM_PROGRAM").unwrap_or_default();
    let kitty = term == "xterm-kitty" || term == "xterm-ghostty";
    if kitty || get("KITTY_WINDOW_ID").is_some() || get("KONSOLE_VERSION").is_some() {
        Some(Protocol::Kitty)
    } else if matches!(program.as_str(), "iTerm.app" | "WezTerm" | "mintty") {
        Some(Protocol::Iterm2)
    } else {
        None
    }
}

/// A square RGB picture (`side` pixels a side, 3 bytes a pixel) filling the cells of `area`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub area: Rect,
    pub side: usize,
    pub rgb: Vec<u8>,
}

/// Bytes that remove every picture this module placed. iTerm2's pictures are the cells'
/// contents: the shell redraws every cell instead (and this is empty).
pub fn clear(p: Protocol) -> Vec<u8> {
    match p {
        Protocol::Kitty => b"\x1b_Ga=d,d=A,q=2\x1b\\".to_vec(),
        Protocol::Iterm2 => Vec::new(),
    }
}

/// Bytes that draw `pictures`, each scaled to its cells, the cursor put back where it was.
pub fn show(p: Protocol, pictures: &[Placement]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"\x1b7");
    for pic in pictures {
        let (w, h) = (pic.area.width, pic.area.height);
        if w == 0 || h == 0 || pic.rgb.len() != pic.side * pic.side * 3 {
            continue;
        }
        let Some(png) = png(&pic.rgb, pic.side) else {
            continue;
        };
        let data = base64(&png);
        out.extend_from_slice(format!("\x1b[{};{}H", pic.area.y + 1, pic.area.x + 1).as_bytes());
        match p {
            Protocol::Kitty => {
                // PNG (f=100), placed now (a=T), scaled into w x h cells, no reply (q=2), the
                // cursor left where it is (C=1); the payload in chunks of at most 4096 bytes.
                let chunks: Vec<&[u8]> = data.as_bytes().chunks(4096).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    let more = u8::from(i + 1 < chunks.len());
                    let head = if i == 0 {
                        format!("a=T,f=100,q=2,C=1,c={w},r={h},m={more}")
                    } else {
                        format!("m={more}")
                    };
                    out.extend_from_slice(format!("\x1b_G{head};").as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\x1b\\");
                }
            }
            Protocol::Iterm2 => {
                let head = format!(
                    "\x1b]1337;File=inline=1;size={};width={w};height={h};preserveAspectRatio=0:",
                    png.len()
                );
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(data.as_bytes());
                out.push(0x07);
            }
        }
    }
    out.extend_from_slice(b"\x1b8");
    out
}

/// The picture as PNG, None if the encoder refuses it.
fn png(rgb: &[u8], side: usize) -> Option<Vec<u8>> {
    png_of(side as u32, side as u32, rgb).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn terminals_are_recognised_and_multiplexers_keep_half_blocks() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<Protocol>);
        let cases: [Case; 9] = [
            (&[("TERM", "xterm-kitty")], Some(Protocol::Kitty)),
            (
                &[("TERM", "xterm-256color"), ("KITTY_WINDOW_ID", "1")],
                Some(Protocol::Kitty),
            ),
            (&[("TERM", "xterm-ghostty")], Some(Protocol::Kitty)),
            (&[("TERM_PROGRAM", "iTerm.app")], Some(Protocol::Iterm2)),
            (&[("TERM_PROGRAM", "WezTerm")], Some(Protocol::Iterm2)),
            (&[("TERM", "xterm-256color")], None),
            (
                &[("TERM", "xterm-kitty"), ("TMUX", "/tmp/tmux-0/default,1,0")],
                None,
            ),
            (
                &[("TERM", "screen-256color"), ("TERM_PROGRAM", "iTerm.app")],
                None,
            ),
            (
                &[("TERM", "xterm-kitty"), ("HISTOBOARD_GRAPHICS", "off")],
                None,
            ),
        ];
        for (vars, want) in cases {
            assert_eq!(detect(env(vars)), want, "{vars:?}");
        }
        let forced = env(&[("TMUX", "x"), ("HISTOBOARD_GRAPHICS", "iterm2")]);
        assert_eq!(detect(forced), Some(Protocol::Iterm2));
    }

    /// The payload of every `ESC _G ... ESC \` command of `bytes`, with its keys.
    fn kitty_commands(bytes: &[u8]) -> Vec<(String, String)> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        text.split("\x1b_G")
            .skip(1)
            .map(|c| {
                let body = &c[..c.find("\x1b\\").unwrap()];
                let (keys, data) = body.split_once(';').unwrap_or((body, ""));
                (keys.to_string(), data.to_string())
            })
            .collect()
    }

    #[test]
    fn kitty_sends_a_png_in_chunks_scaled_to_its_cells() {
        // Noise, so the PNG is larger than one 4096-byte chunk.
        let side = 96;
        let rgb: Vec<u8> = (0..side * side * 3)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8)
            .collect();
        let pic = Placement {
            area: Rect::new(4, 2, 16, 8),
            side,
            rgb,
        };
        let bytes = show(Protocol::Kitty, std::slice::from_ref(&pic));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("\x1b7\x1b[3;5H\x1b_G"),
            "{:?}",
            &text[..20]
        );
        assert!(text.ends_with("\x1b\\\x1b8"));
        let cmds = kitty_commands(&bytes);
        assert!(cmds.len() > 1, "several chunks");
        assert_eq!(cmds[0].0, "a=T,f=100,q=2,C=1,c=16,r=8,m=1");
        assert!(cmds[1..cmds.len() - 1].iter().all(|c| c.0 == "m=1"));
        assert_eq!(cmds.last().unwrap().0, "m=0");
        assert!(cmds.iter().all(|c| c.1.len() <= 4096));
        let data: String = cmds.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(data, base64(&png(&pic.rgb, side).unwrap()));
        assert_eq!(kitty_commands(&clear(Protocol::Kitty))[0].0, "a=d,d=A,q=2");
    }

    #[test]
    fn iterm2_sends_one_inline_file_sized_in_cells() {
        let pic = Placement {
            area: Rect::new(0, 0, 8, 4),
            side: 2,
            rgb: vec![200; 12],
        };
        let text = String::from_utf8(show(Protocol::Iterm2, std::slice::from_ref(&pic))).unwrap();
        let png = png(&pic.rgb, 2).unwrap();
        let want = format!(
            "\x1b7\x1b[1;1H\x1b]1337;File=inline=1;size={};width=8;height=4;preserveAspectRatio=0:{}\x07\x1b8",
            png.len(),
            base64(&png)
        );
        assert_eq!(text, want);
        // A picture of the wrong size is left out rather than sent garbled.
        let bad = Placement {
            rgb: vec![0; 5],
            ..pic
        };
        assert_eq!(show(Protocol::Iterm2, &[bad]), b"\x1b7\x1b8");
    }
}
