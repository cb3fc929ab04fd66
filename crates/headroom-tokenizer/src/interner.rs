//! Text -> piece id lookup without copying the vocabulary's strings: the table stores only ids and
//! hashes the texts they point to (token texts, then merge strings that are not tokens). Loading a
//! 150K-token vocabulary this way avoids 150K key allocations.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

#[derive(Debug, Default)]
pub(crate) struct Interner {
    table: HashTable<u32>,
    /// Texts of ids at or above the token count.
    extra: Vec<Box<str>>,
}

#[inline]
fn hash(text: &str) -> u64 {
    FxBuildHasher.hash_one(text)
}

#[inline]
fn text_of<'a>(tokens: &'a [String], extra: &'a [Box<str>], id: u32) -> &'a str {
    match tokens.get(id as usize) {
        Some(text) => text,
        None => extra
            .get(id as usize - tokens.len())
            .map_or("", |text| text),
    }
}

impl Interner {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            table: HashTable::with_capacity(capacity),
            extra: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn text<'a>(&'a self, tokens: &'a [String], id: u32) -> &'a str {
        text_of(tokens, &self.extra, id)
    }

    #[inline]
    pub(crate) fn get(&self, tokens: &[String], text: &str) -> Option<u32> {
        self.table
            .find(hash(text), |&id| self.text(tokens, id) == text)
            .copied()
    }

    /// Records token `id` for its text; a later duplicate wins, as llama.cpp's `token_to_id[word] = i`.
    pub(crate) fn insert_token(&mut self, tokens: &[String], id: u32) {
        let text = tokens[id as usize].as_str();
        let text_hash = hash(text);
        let extra = &self.extra;
        match self.table.find_mut(text_hash, |&existing| {
            text_of(tokens, extra, existing) == text
        }) {
            Some(slot) => *slot = id,
            None => {
                self.table.insert_unique(text_hash, id, |&existing| {
                    hash(text_of(tokens, extra, existing))
                });
            }
        }
    }

    /// The id of `text`, adding it as an extra (non-token) piece if absent.
    pub(crate) fn intern(&mut self, tokens: &[String], text: &str) -> u32 {
        if let Some(id) = self.get(tokens, text) {
            return id;
        }
        let id = (tokens.len() + self.extra.len()) as u32;
        self.extra.push(text.into());
        let extra = &self.extra;
        self.table.insert_unique(hash(text), id, |&existing| {
            hash(text_of(tokens, extra, existing))
        });
        id
    }
}
