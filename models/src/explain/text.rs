//! A review as W3 reads it, for showing its attribution: the words the model kept (tokenised and
//! truncated exactly as training encoded them), their ids, and the same words shaded by attribution
//! with ANSI colours for a terminal. The HTML view is `html.rs`; this file must not score anything.

use super::picture::diverging;
use crate::data::{tokenize, truncate_sequence, EncodeOptions, Vocab, OOV_ID, PAD_ID};
use kiln_tensor::{Error, Result, Tensor};

/// One word of a review: as tokenised, its id, and whether the vocabulary knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownToken {
    pub text: String,
    pub id: u32,
    pub known: bool,
}

/// The words `opts` keeps of `text`, and the ids `[1, seq_len]` (i64, right-padded) W3 reads.
pub fn review(text: &str, vocab: &Vocab, opts: &EncodeOptions) -> Result<(Vec<ShownToken>, Tensor)> {
    let words = truncate_sequence(&tokenize(text), opts);
    if words.is_empty() {
        return Err(Error::invalid("explain", format!("the review {text:?} has no words to score")));
    }
    let tokens: Vec<ShownToken> = words
        .into_iter()
        .map(|w| {
            let id = vocab.id(&w);
            ShownToken { known: id != OOV_ID, text: w, id }
        })
        .collect();
    let (ids, kept) = vocab.encode(text, opts);
    debug_assert_eq!(kept, tokens.len());
    let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    debug_assert!(ids[tokens.len()..].iter().all(|&i| i == i64::from(PAD_ID)));
    Ok((tokens, Tensor::from_vec(ids, [1, opts.seq_len])?))
}

/// The largest |value|, or 1 when all are zero (so shading divides by something).
pub fn scale_of(values: &[f64]) -> f64 {
    let m = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m > 0.0 {
        m
    } else {
        1.0
    }
}

/// The words with 24-bit ANSI backgrounds: red for the target, blue against, by |value| / max.
pub fn ansi(tokens: &[ShownToken], values: &[f64]) -> String {
    let scale = scale_of(values);
    let words: Vec<String> = tokens
        .iter()
        .zip(values)
        .map(|(t, v)| {
            let [r, g, b] = diverging(v / scale);
            format!("\x1b[48;2;{r};{g};{b}m\x1b[38;2;0;0;0m{}\x1b[0m", t.text)
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Truncate;

    #[test]
    fn a_review_keeps_what_training_keeps_and_empty_text_is_an_error() {
        let vocab = Vocab::build(["a great film", "a dull film"], 10);
        let opts = EncodeOptions { seq_len: 3, truncate: Truncate::KeepLast, ..EncodeOptions::default() };
        let (tokens, ids) = review("What a GREAT, great film!", &vocab, &opts).unwrap();
        let words: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["great", "great", "film"], "the last 3 words, lower-cased");
        assert_eq!(ids.to_vec::<i64>().unwrap(), tokens.iter().map(|t| t.id as i64).collect::<Vec<_>>());
        let (short, ids) = review("zzz film", &vocab, &opts).unwrap();
        assert!(!short[0].known && short[1].known);
        assert_eq!(ids.to_vec::<i64>().unwrap()[2], PAD_ID as i64);
        for empty in ["", "  ...  !"] {
            assert!(review(empty, &vocab, &opts).unwrap_err().to_string().contains("no words"), "{empty:?}");
        }
        let shaded = ansi(&short, &[1.0, -0.5]);
        assert!(shaded.contains("zzz") && shaded.contains("\x1b[48;2;") && shaded.ends_with("\x1b[0m"));
    }
}
