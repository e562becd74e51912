//! The CLIP byte-level BPE tokenizer SAM 3 uses for text prompts (`sam3/model/tokenizer_ve.py`,
//! itself from OpenAI CLIP / open_clip), reimplemented so Carve needs no Python at run time.
//!
//! Text is cleaned like the reference (a subset of ftfy's `fix_text`: mojibake, HTML entities,
//! curly quotes, full-width forms, ligatures, NFC; then HTML-unescaped twice, whitespace collapsed,
//! lower-cased), split with CLIP's pattern, byte-encoded, BPE-merged with the ranks of
//! `bpe_simple_vocab_16e6.txt.gz`, and wrapped as `[SOT] tokens [EOT]`, truncated to the context
//! length with EOT kept last and padded with 0. `tests/sam3_*` check it against the Python
//! tokenizer on a corpus.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Errors from loading the vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{}: cannot read the BPE vocabulary: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a CLIP BPE merges file: {message}", path.display())]
    Format { path: PathBuf, message: String },
}

/// A loaded CLIP tokenizer.
pub struct ClipTokenizer {
    encoder: HashMap<String, i64>,
    ranks: HashMap<(String, String), usize>,
    byte_encoder: [char; 256],
    pattern: regex::Regex,
    pub sot_token: i64,
    pub eot_token: i64,
}

/// Number of merges CLIP uses from the file.
const MERGES: usize = 49152 - 256 - 2;

/// CLIP's reversible byte → printable character table.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let printable = |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut n = 0u32;
    for b in 0..256u32 {
        table[b as usize] = if printable(b) {
            char::from_u32(b).unwrap_or('?')
        } else {
            n += 1;
            char::from_u32(256 + n - 1).unwrap_or('?')
        };
    }
    table
}

impl ClipTokenizer {
    /// Loads `bpe_simple_vocab_16e6.txt.gz` (gzip) or its uncompressed text.
    pub fn load(path: &Path) -> Result<Self, TokenizerError> {
        use crate::core::fs::{InputLimit, read_input};
        let bytes = read_input(path, InputLimit::Document)
            .map_err(|e| TokenizerError::Io { path: path.to_owned(), source: e.source })?;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            // The real vocabulary inflates to 1.3 MB; a gzip bomb stops at the cap.
            let cap = InputLimit::Document.bytes();
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .take(cap + 1)
                .read_to_string(&mut s)
                .map_err(|source| TokenizerError::Io { path: path.to_owned(), source })?;
            if s.len() as u64 > cap {
                return Err(TokenizerError::Format {
                    path: path.to_owned(),
                    message: format!("inflates to more than {} MiB; not a vocabulary", cap >> 20),
                });
            }
            s
        } else {
            String::from_utf8(bytes)
                .map_err(|e| TokenizerError::Format { path: path.to_owned(), message: e.to_string() })?
        };
        Self::from_merges_text(&text).map_err(|message| TokenizerError::Format { path: path.to_owned(), message })
    }

    fn from_merges_text(text: &str) -> Result<Self, String> {
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < MERGES + 1 {
            return Err(format!("{} lines, expected at least {}", lines.len(), MERGES + 1));
        }
        let byte_encoder = bytes_to_unicode();
        // The reference vocabulary lists the byte characters printable bytes first (in byte order),
        // then the remapped ones (also in byte order): the order of `bytes_to_unicode()`'s dict.
        let (printable, remapped): (Vec<char>, Vec<char>) = byte_encoder.iter().partition(|&&c| (c as u32) < 256);
        let byte_chars: Vec<char> = printable.into_iter().chain(remapped).collect();
        let mut vocab: Vec<String> = byte_chars.iter().map(|c| c.to_string()).collect();
        vocab.extend(byte_chars.iter().map(|c| format!("{c}</w>")));
        let mut ranks = HashMap::with_capacity(MERGES);
        for (rank, line) in lines[1..=MERGES].iter().enumerate() {
            let mut parts = line.split_whitespace();
            let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("line {} is not a merge pair: {line:?}", rank + 2));
            };
            vocab.push(format!("{a}{b}"));
            ranks.insert((a.to_owned(), b.to_owned()), rank);
        }
        let sot_token = vocab.len() as i64;
        vocab.push("<start_of_text>".into());
        let eot_token = vocab.len() as i64;
        vocab.push("<end_of_text>".into());
        let encoder = vocab.into_iter().enumerate().map(|(i, v)| (v, i as i64)).collect();
        let pattern = regex::Regex::new(
            r"(?i)<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        )
        .map_err(|e| e.to_string())?;
        Ok(Self { encoder, ranks, byte_encoder, pattern, sot_token, eot_token })
    }

    /// BPE token ids of `text` (no SOT/EOT).
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let cleaned = clean_lower(text);
        let mut ids = Vec::new();
        for m in self.pattern.find_iter(&cleaned) {
            let token = m.as_str();
            if token == "<start_of_text>" || token == "<end_of_text>" {
                ids.push(if token == "<start_of_text>" { self.sot_token } else { self.eot_token });
                continue;
            }
            let chars: String = token.bytes().map(|b| self.byte_encoder[b as usize]).collect();
            for piece in self.bpe(&chars) {
                // Every piece is in the vocabulary by construction (bytes and merges).
                if let Some(&id) = self.encoder.get(&piece) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// `[SOT] tokens [EOT]`, truncated to `context_length` with EOT last, padded with 0.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<i64> {
        let mut tokens = vec![self.sot_token];
        tokens.extend(self.encode(text));
        tokens.push(self.eot_token);
        if tokens.len() > context_length {
            tokens.truncate(context_length);
            if let Some(last) = tokens.last_mut() {
                *last = self.eot_token;
            }
        }
        tokens.resize(context_length, 0);
        tokens
    }

    /// Number of BPE tokens `text` needs, SOT/EOT included (to warn before truncation).
    pub fn token_count(&self, text: &str) -> usize {
        self.encode(text).len() + 2
    }

    fn bpe(&self, token: &str) -> Vec<String> {
        let mut word: Vec<String> = token.chars().map(String::from).collect();
        let Some(last) = word.last_mut() else { return Vec::new() };
        last.push_str("</w>");
        loop {
            if word.len() < 2 {
                break;
            }
            let best = (0..word.len() - 1)
                .filter_map(|i| self.ranks.get(&(word[i].clone(), word[i + 1].clone())).map(|&r| (r, i)))
                .min();
            let Some((_, i)) = best else { break };
            let (first, second) = (word[i].clone(), word[i + 1].clone());
            let mut merged = Vec::with_capacity(word.len());
            let mut j = 0;
            while j < word.len() {
                if j + 1 < word.len() && word[j] == first && word[j + 1] == second {
                    merged.push(format!("{first}{second}"));
                    j += 2;
                } else {
                    merged.push(word[j].clone());
                    j += 1;
                }
            }
            word = merged;
        }
        word
    }
}

/// The reference's `whitespace_clean(basic_clean(text)).lower()`.
pub fn clean_lower(text: &str) -> String {
    let fixed = fix_text(text);
    let once = html_escape::decode_html_entities(&fixed).into_owned();
    let twice = html_escape::decode_html_entities(&once).into_owned();
    let collapsed = twice.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.to_lowercase()
}

/// The parts of ftfy's `fix_text` (default settings) that matter for short prompts.
pub fn fix_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut s = fix_mojibake(text);
    if !s.contains('<') {
        s = html_escape::decode_html_entities(&s).into_owned();
    }
    let s: String = s
        .replace("\r\n", "\n")
        .chars()
        .filter_map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => Some("'".to_owned()),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' => Some("\"".to_owned()),
            '\u{FB00}' => Some("ff".into()),
            '\u{FB01}' => Some("fi".into()),
            '\u{FB02}' => Some("fl".into()),
            '\u{FB03}' => Some("ffi".into()),
            '\u{FB04}' => Some("ffl".into()),
            '\u{FB05}' | '\u{FB06}' => Some("st".into()),
            '\u{3000}' => Some(" ".into()),
            c @ '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).map(String::from),
            '\r' | '\u{2028}' | '\u{2029}' | '\u{0085}' => Some("\n".into()),
            c if c.is_control() && !matches!(c, '\t' | '\n') => None,
            c => Some(c.to_string()),
        })
        .collect();
    s.nfc().collect()
}

/// Undoes UTF-8 text that was decoded as Windows-1252/Latin-1 ("cafÃ©" → "café"): each maximal
/// run of non-ASCII characters that map back to single bytes is replaced by those bytes decoded
/// as UTF-8, when they form valid UTF-8 (a lone "è" does not, and stays).
fn fix_mojibake(text: &str) -> String {
    const CP1252: [(u32, u8); 27] = [
        (0x20AC, 0x80),
        (0x201A, 0x82),
        (0x0192, 0x83),
        (0x201E, 0x84),
        (0x2026, 0x85),
        (0x2020, 0x86),
        (0x2021, 0x87),
        (0x02C6, 0x88),
        (0x2030, 0x89),
        (0x0160, 0x8A),
        (0x2039, 0x8B),
        (0x0152, 0x8C),
        (0x017D, 0x8E),
        (0x2018, 0x91),
        (0x2019, 0x92),
        (0x201C, 0x93),
        (0x201D, 0x94),
        (0x2022, 0x95),
        (0x2013, 0x96),
        (0x2014, 0x97),
        (0x02DC, 0x98),
        (0x2122, 0x99),
        (0x0161, 0x9A),
        (0x203A, 0x9B),
        (0x0153, 0x9C),
        (0x017E, 0x9E),
        (0x0178, 0x9F),
    ];
    let byte_of = |c: char| -> Option<u8> {
        let code = c as u32;
        if (0x80..0x100).contains(&code) {
            Some(code as u8)
        } else {
            CP1252.iter().find(|(u, _)| *u == code).map(|&(_, b)| b)
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let mut run_bytes = Vec::new();
    let flush = |out: &mut String, run: &mut String, run_bytes: &mut Vec<u8>| {
        match std::str::from_utf8(run_bytes) {
            Ok(fixed) if run_bytes.len() > 1 => out.push_str(fixed),
            _ => out.push_str(run),
        }
        run.clear();
        run_bytes.clear();
    };
    for c in text.chars() {
        match byte_of(c) {
            Some(b) => {
                run.push(c);
                run_bytes.push(b);
            }
            None => {
                flush(&mut out, &mut run, &mut run_bytes);
                out.push(c);
            }
        }
    }
    flush(&mut out, &mut run, &mut run_bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_bomb_vocabulary_stops_at_the_cap() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b'a'; 1 << 20];
        for _ in 0..80 {
            gz.write_all(&zeros).unwrap(); // 80 MiB of text, over the 64 MiB document cap
        }
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let e = ClipTokenizer::load(&path).err().expect("refused").to_string();
        assert!(e.contains("vocab.txt.gz") && e.contains("inflates to more than"), "{e}");
    }

    #[test]
    fn cleaning_matches_the_reference_rules() {
        assert_eq!(clean_lower("  RED \t  ball \n "), "red ball");
        assert_eq!(clean_lower("cafÃ© crème"), "café crème");
        assert_eq!(clean_lower("&amp;lt; tag"), "< tag");
        assert_eq!(clean_lower("\u{201C}quoted\u{201D} ＡＢＣ"), "\"quoted\" abc");
        assert_eq!(clean_lower("café"), "café", "real Latin-1 text stays");
    }

    #[test]
    fn byte_table_is_a_bijection() {
        let table = bytes_to_unicode();
        let set: std::collections::HashSet<char> = table.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(table[b'!' as usize], '!');
        assert_eq!(table[b' ' as usize], '\u{120}');
    }
}
