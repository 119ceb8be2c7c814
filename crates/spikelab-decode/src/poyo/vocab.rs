//! String vocabularies of unit and session ids (POYO's `InfiniteVocabEmbedding`): index 0 is the
//! reserved word `"NA"` (padding), words keep the order they were added in.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{DecodeError, Result};

/// The reserved padding word at index 0.
pub const PAD_WORD: &str = "NA";

/// Ordered map word → index with [`PAD_WORD`] at 0.
///
/// ```
/// use spikelab_decode::poyo::Vocab;
/// let mut v = Vocab::new();
/// v.extend(["a", "b"])?;
/// assert_eq!(v.index("b"), Some(2));
/// assert_eq!(v.len(), 3); // "NA", "a", "b"
/// assert!(v.extend(["a"]).is_err()); // no duplicates
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Vocab {
    words: Vec<String>,
    index: HashMap<String, usize>,
}

impl Default for Vocab {
    fn default() -> Self {
        Self::new()
    }
}

impl Vocab {
    /// A vocabulary holding only [`PAD_WORD`].
    pub fn new() -> Self {
        Self {
            words: vec![PAD_WORD.to_string()],
            index: HashMap::from([(PAD_WORD.to_string(), 0)]),
        }
    }

    /// Appends new words (errors on a duplicate or on [`PAD_WORD`]); returns their indices.
    pub fn extend<S: AsRef<str>>(
        &mut self,
        words: impl IntoIterator<Item = S>,
    ) -> Result<Vec<usize>> {
        let mut added = Vec::new();
        for w in words {
            let w = w.as_ref();
            if self.index.contains_key(w) {
                return Err(DecodeError::InvalidData(format!(
                    "vocabulary word {w:?} given twice (or reserved)"
                )));
            }
            self.index.insert(w.to_string(), self.words.len());
            added.push(self.words.len());
            self.words.push(w.to_string());
        }
        Ok(added)
    }

    /// The index of `word`.
    pub fn index(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// Number of words including [`PAD_WORD`].
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether only [`PAD_WORD`] is present.
    pub fn is_empty(&self) -> bool {
        self.words.len() == 1
    }

    /// Words in index order.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

impl TryFrom<Vec<String>> for Vocab {
    type Error = DecodeError;

    fn try_from(words: Vec<String>) -> Result<Self> {
        if words.first().map(String::as_str) != Some(PAD_WORD) {
            return Err(DecodeError::InvalidData(format!(
                "a vocabulary starts with {PAD_WORD:?}"
            )));
        }
        let mut v = Vocab::new();
        v.extend(&words[1..])?;
        Ok(v)
    }
}

impl From<Vocab> for Vec<String> {
    fn from(v: Vocab) -> Self {
        v.words
    }
}
