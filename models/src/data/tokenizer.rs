//! Word-level tokenizer and vocabulary for IMDB-style text.
//!
//! Tokenising: `<br />` (also `<br/>`, `<br>`) becomes a space, text is lower-cased (Unicode), and
//! every character that is not alphanumeric separates words, except an apostrophe (`'` or `’`,
//! stored as `'`) between two alphanumerics, which stays inside the word: `Don't!` gives `don't`,
//! `'quoted'` gives `quoted`. The [`Vocab`] holds PAD (id 0), OOV (id 1) and the `max_words` most
//! frequent training words (ties broken by byte order of the word, so the vocab is deterministic).
//! Encoding defaults to the first `seq_len` tokens padded on the right, as in the PyTorch reference
//! run of workload W3; keeping the last tokens and left padding are options. No tensors here.

use super::dataset::TextDataset;
use super::error::{DataError, Result};
use super::fsutil::atomic_write;
use std::collections::HashMap;
use std::path::Path;

pub const PAD_ID: u32 = 0;
pub const OOV_ID: u32 = 1;
pub const PAD_TOKEN: &str = "<pad>";
pub const OOV_TOKEN: &str = "<unk>";
const FORMAT: &str = "kiln-vocab";
const VERSION: u32 = 1;

/// Splits a text into lower-case word tokens (rules in the module doc).
pub fn tokenize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace("<br />", " ").replace("<br/>", " ").replace("<br>", " ");
    let chars: Vec<char> = lower.chars().collect();
    let mut tokens = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            word.push(c);
        } else if (c == '\'' || c == '’') && !word.is_empty() && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
        {
            word.push('\'');
        } else if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// Which tokens survive when a text is longer than the sequence length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncate {
    KeepFirst,
    KeepLast,
    /// The first `n` tokens and the last `seq_len - n` (a review's opening and its verdict; `n` is
    /// capped at `seq_len`).
    KeepHeadTail(usize),
}

/// The items of a sequence that survive `opts.truncate` (all of them when they fit in
/// `opts.seq_len`): what [`Vocab::encode`] keeps, also for showing a review's kept words.
pub fn truncate_sequence<T: Clone>(items: &[T], opts: &EncodeOptions) -> Vec<T> {
    let len = opts.seq_len;
    match opts.truncate {
        _ if items.len() <= len => items.to_vec(),
        Truncate::KeepFirst => items[..len].to_vec(),
        Truncate::KeepLast => items[items.len() - len..].to_vec(),
        Truncate::KeepHeadTail(head) => {
            let head = head.min(len);
            [&items[..head], &items[items.len() - (len - head)..]].concat()
        }
    }
}

/// Which side of a short sequence the PAD ids go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    Left,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    pub seq_len: usize,
    pub truncate: Truncate,
    pub pad: Pad,
}

impl Default for EncodeOptions {
    /// 256 tokens, keep the first, pad right: the settings of the W3 reference run.
    fn default() -> Self {
        EncodeOptions { seq_len: 256, truncate: Truncate::KeepFirst, pad: Pad::Right }
    }
}

/// A text dataset encoded to fixed-length id sequences, ready for a loader.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedTexts {
    /// `n * seq_len` token ids, one sequence after another.
    pub ids: Vec<u32>,
    /// Real (non-PAD) tokens in each sequence, for masking or packing.
    pub lengths: Vec<usize>,
    pub labels: Vec<u8>,
    pub seq_len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    /// Indexed by id: PAD, OOV, then the words by falling frequency.
    words: Vec<String>,
    index: HashMap<String, u32>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VocabFile {
    format: String,
    version: u32,
    pad: String,
    oov: String,
    words: Vec<String>,
}

impl Vocab {
    /// The `max_words` most frequent tokens of `texts` (ties by byte order), plus PAD and OOV.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>, max_words: usize) -> Vocab {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for text in texts {
            for token in tokenize(text) {
                *counts.entry(token).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
        ranked.sort_by(|(wa, ca), (wb, cb)| cb.cmp(ca).then_with(|| wa.cmp(wb)));
        ranked.truncate(max_words);
        Self::from_words(ranked.into_iter().map(|(w, _)| w).collect(), Path::new("<built>"))
            .expect("distinct tokens, none of them a special token")
    }

    /// A vocab of the given words (ids from 2 on); `path` names the source in errors.
    fn from_words(words: Vec<String>, path: &Path) -> Result<Vocab> {
        let mut all = vec![PAD_TOKEN.to_string(), OOV_TOKEN.to_string()];
        all.extend(words);
        let mut index = HashMap::with_capacity(all.len());
        for (id, word) in all.iter().enumerate() {
            let bad = |msg: String| DataError::Vocab { path: path.into(), msg };
            if word.is_empty() || word.chars().any(char::is_whitespace) {
                return Err(bad(format!("id {id}: {word:?} is not a token")));
            }
            if index.insert(word.clone(), id as u32).is_some() {
                return Err(bad(format!("id {id}: {word:?} appears twice")));
            }
        }
        Ok(Vocab { words: all, index })
    }

    /// Ids in use, PAD and OOV included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Never true: PAD and OOV are always there.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The id of a token, OOV for unknown tokens.
    pub fn id(&self, token: &str) -> u32 {
        self.index.get(token).copied().unwrap_or(OOV_ID)
    }

    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    /// Tokenises and encodes one text to exactly `opts.seq_len` ids; returns them and the number of
    /// real tokens kept.
    pub fn encode(&self, text: &str, opts: &EncodeOptions) -> (Vec<u32>, usize) {
        let ids: Vec<u32> = tokenize(text).iter().map(|t| self.id(t)).collect();
        let kept = truncate_sequence(&ids, opts);
        let pads = std::iter::repeat_n(PAD_ID, opts.seq_len - kept.len());
        let out = match opts.pad {
            Pad::Right => kept.iter().copied().chain(pads).collect(),
            Pad::Left => pads.chain(kept.iter().copied()).collect(),
        };
        (out, kept.len())
    }

    /// Encodes every text of a dataset.
    pub fn encode_dataset(&self, data: &TextDataset, opts: &EncodeOptions) -> EncodedTexts {
        let mut out = EncodedTexts {
            ids: Vec::with_capacity(data.len() * opts.seq_len),
            lengths: Vec::with_capacity(data.len()),
            labels: data.labels.clone(),
            seq_len: opts.seq_len,
        };
        for text in &data.texts {
            let (ids, len) = self.encode(text, opts);
            out.ids.extend_from_slice(&ids);
            out.lengths.push(len);
        }
        out
    }

    /// Saves as JSON (`{"format":"kiln-vocab","version":1,"pad":..,"oov":..,"words":[..]}`, words
    /// from id 2 on), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = VocabFile {
            format: FORMAT.into(),
            version: VERSION,
            pad: PAD_TOKEN.into(),
            oov: OOV_TOKEN.into(),
            words: self.words[2..].to_vec(),
        };
        let json = serde_json::to_vec(&file).map_err(|source| DataError::Json { path: path.into(), source })?;
        atomic_write(path, &json)
    }

    /// Loads and validates a vocab written by [`Vocab::save`].
    pub fn load(path: &Path) -> Result<Vocab> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let file: VocabFile =
            serde_json::from_slice(&bytes).map_err(|source| DataError::Json { path: path.into(), source })?;
        if file.format != FORMAT || file.version != VERSION || file.pad != PAD_TOKEN || file.oov != OOV_TOKEN {
            let (got, want) = (
                format!("{:?} {} {:?} {:?}", file.format, file.version, file.pad, file.oov),
                format!("{FORMAT:?} {VERSION} {PAD_TOKEN:?} {OOV_TOKEN:?}"),
            );
            let msg = format!("header (format, version, pad, oov) is {got}, expected {want}");
            return Err(DataError::Vocab { path: path.into(), msg });
        }
        Self::from_words(file.words, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_rules() {
        let t = tokenize("Don't stop!<br /><br />It's 'GREAT'... rock'n'roll, 10/10 Café");
        assert_eq!(t, ["don't", "stop", "it's", "great", "rock'n'roll", "10", "10", "café"]);
        assert_eq!(tokenize("  ''  "), Vec::<String>::new());
        assert_eq!(tokenize("it’s"), ["it's"]);
    }

    #[test]
    fn vocab_ranks_by_count_then_word_and_encodes() {
        let v = Vocab::build(["b a c", "a b d", "a"], 2);
        assert_eq!((v.len(), v.id("a"), v.id("b"), v.id("c")), (4, 2, 3, OOV_ID));
        let opts = EncodeOptions { seq_len: 4, ..Default::default() };
        assert_eq!(v.encode("a zz b", &opts), (vec![2, 1, 3, 0], 3));
        let last = EncodeOptions { seq_len: 2, truncate: Truncate::KeepLast, pad: Pad::Left };
        assert_eq!(v.encode("a zz b", &last), (vec![1, 3], 2));
        assert_eq!(v.encode("b", &last), (vec![0, 3], 1));
        let head_tail = EncodeOptions { seq_len: 3, truncate: Truncate::KeepHeadTail(1), pad: Pad::Right };
        assert_eq!(v.encode("a b zz a b", &head_tail), (vec![2, 2, 3], 3));
        assert_eq!(v.encode("b", &head_tail), (vec![3, 0, 0], 1));
        let all_head = EncodeOptions { truncate: Truncate::KeepHeadTail(9), ..head_tail };
        assert_eq!(v.encode("a b zz a b", &all_head), (vec![2, 3, 1], 3));
        assert_eq!(v.encode("b a b", &EncodeOptions { seq_len: 2, ..Default::default() }), (vec![3, 2], 2));
    }
}
