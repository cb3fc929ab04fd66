//! Exact token counts from a model's own vocabulary.
