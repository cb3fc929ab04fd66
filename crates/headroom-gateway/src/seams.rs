//! The seams where other headroom crates plug in: token counting, local capacity (loaded window,
//! memory fit) and prefill prediction. Each trait has an honest default here so the gateway runs
//! on its own; the real implementations (headroom-tokenizer, headroom-core memory and speed
//! models) replace them without touching the router.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::chat::ChatRequest;

/// How a token count was obtained.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum CountMethod {
    /// The model's own tokenizer or the backend's `/tokenize`.
    Exact,
    /// Bytes divided by a calibrated ratio; the upper bound uses the worst ratio seen.
    Estimate {
        /// Central bytes per token.
        bytes_per_token: f64,
        /// Fewest bytes per token expected.
        worst_bytes_per_token: f64,
    },
}

/// A prompt's size in tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TokenCount {
    /// Best value.
    pub tokens: u64,
    /// The most it can be (equal to `tokens` when exact); routing decisions use this.
    pub upper_bound_tokens: u64,
    /// How it was obtained.
    #[serde(flatten)]
    pub method: CountMethod,
}

impl TokenCount {
    /// An exact count.
    pub fn exact(tokens: u64) -> Self {
        Self {
            tokens,
            upper_bound_tokens: tokens,
            method: CountMethod::Exact,
        }
    }

    /// Whether the count is exact.
    pub fn is_exact(&self) -> bool {
        self.method == CountMethod::Exact
    }
}

/// Counts a request's prompt tokens for one model.
pub trait TokenCounter: Send + Sync {
    /// The count, or `None` when this counter cannot count for `model` (the caller falls back).
    fn count(&self, model: &str, request: &ChatRequest) -> Option<TokenCount>;
}

/// Template tokens per message (role markers, separators): chat templates of Llama 3 and Qwen
/// (ChatML) add 4 to 5 special tokens per turn (`<|im_start|>role\n ... <|im_end|>\n`); 8 covers both.
pub const TEMPLATE_TOKENS_PER_MESSAGE: u64 = 8;

/// The calibrated estimate: bytes ÷ ratio, with an upper bound from the worst ratio.
#[derive(Debug, Clone, Copy)]
pub struct EstimateCounter {
    /// Central bytes per token.
    pub bytes_per_token: f64,
    /// Fewest bytes per token expected.
    pub worst_bytes_per_token: f64,
}

impl EstimateCounter {
    /// Estimates a request.
    pub fn estimate(&self, request: &ChatRequest) -> TokenCount {
        let bytes = request.prompt_bytes() as f64;
        let template = TEMPLATE_TOKENS_PER_MESSAGE.saturating_mul(request.messages.len() as u64);
        let tokens = (bytes / self.bytes_per_token).ceil() as u64 + template;
        let upper = (bytes / self.worst_bytes_per_token).ceil() as u64 + template;
        TokenCount {
            tokens,
            upper_bound_tokens: upper.max(tokens),
            method: CountMethod::Estimate {
                bytes_per_token: self.bytes_per_token,
                worst_bytes_per_token: self.worst_bytes_per_token,
            },
        }
    }
}

/// What the router knows about a local model's window and memory.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LocalWindow {
    /// The window the backend has loaded now (Ollama `/api/ps` `context_length`, llama-server
    /// per-slot `n_ctx`); `None` when nothing is loaded or it could not be read.
    pub loaded_context_tokens: Option<u64>,
    /// The model's training window (GGUF / `/api/show`); `num_ctx` above it is capped by the backend.
    pub training_context_tokens: Option<u64>,
    /// The largest window memory allows; `None` when unknown.
    pub memory_max_context_tokens: Option<u64>,
    /// Whether the window can change per request (Ollama `options.num_ctx`: yes; llama-server: fixed at launch).
    pub adjustable: bool,
}

/// Knows a local model's loaded window and whether raising it fits memory.
pub trait LocalCapacity: Send + Sync {
    /// The window facts for `model` on `backend`.
    fn window(&self, backend: &str, model: &str) -> LocalWindow;
}

/// Predicts time to first token from learned prefill rates.
pub trait PrefillPredictor: Send + Sync {
    /// Predicted prefill rate for `model` on `backend`, tokens per second.
    fn prefill_tokens_per_second(&self, backend: &str, model: &str) -> Option<f64>;
    /// Learns from a response's own timing.
    fn observe(&self, backend: &str, model: &str, prompt_tokens: u64, prompt_seconds: f64);
}

/// Weight of a new observation in the moving average: a few requests move it, one outlier does not.
pub const PREFILL_EWMA_WEIGHT: f64 = 0.3;

/// Prefill rate as an exponentially weighted moving average of `prompt_eval_count /
/// prompt_eval_duration`, starting from a configured prior.
#[derive(Debug, Default)]
pub struct LearnedPrefill {
    rates: Mutex<HashMap<(String, String), f64>>,
}

impl LearnedPrefill {
    /// Sets the prior for a model (from config) unless something was learned already.
    pub fn prior(&self, backend: &str, model: &str, tokens_per_second: f64) {
        if let Ok(mut rates) = self.rates.lock() {
            rates
                .entry((backend.to_string(), model.to_string()))
                .or_insert(tokens_per_second);
        }
    }
}

/// Prompts shorter than this are dominated by fixed overhead and cache hits; learning from them
/// would overstate the rate for the long prompts that matter.
pub const MIN_PREFILL_SAMPLE_TOKENS: u64 = 256;

impl PrefillPredictor for LearnedPrefill {
    fn prefill_tokens_per_second(&self, backend: &str, model: &str) -> Option<f64> {
        let rates = self.rates.lock().ok()?;
        rates
            .get(&(backend.to_string(), model.to_string()))
            .copied()
    }

    fn observe(&self, backend: &str, model: &str, prompt_tokens: u64, prompt_seconds: f64) {
        if prompt_tokens < MIN_PREFILL_SAMPLE_TOKENS
            || !(prompt_seconds.is_finite() && prompt_seconds > 0.0)
        {
            return;
        }
        let rate = prompt_tokens as f64 / prompt_seconds;
        if let Ok(mut rates) = self.rates.lock() {
            let entry = rates
                .entry((backend.to_string(), model.to_string()))
                .or_insert(rate);
            *entry = PREFILL_EWMA_WEIGHT * rate + (1.0 - PREFILL_EWMA_WEIGHT) * *entry;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message::text("user", text)],
            stream: false,
            max_output_tokens: None,
            temperature: None,
            top_p: None,
            stop: vec![],
            seed: None,
            include_usage: false,
            tools: None,
        }
    }

    #[test]
    fn estimate_upper_bound_is_not_below_estimate() {
        let counter = EstimateCounter {
            bytes_per_token: 3.0,
            worst_bytes_per_token: 1.75,
        };
        let count = counter.estimate(&request(&"x".repeat(3000)));
        // 3004 bytes (content + role) / 3 = 1002 (ceil), + 8 template tokens.
        assert_eq!(count.tokens, 1010);
        assert_eq!(count.upper_bound_tokens, 1717 + 8);
        assert!(!count.is_exact());
    }

    #[test]
    fn learned_prefill_moves_toward_observations() {
        let learned = LearnedPrefill::default();
        learned.prior("mac", "qwen", 400.0);
        learned.observe("mac", "qwen", 10_000, 10.0);
        let rate = learned.prefill_tokens_per_second("mac", "qwen").unwrap();
        assert!((rate - (0.3 * 1000.0 + 0.7 * 400.0)).abs() < 1e-9);
        learned.prior("mac", "qwen", 5.0);
        assert_eq!(learned.prefill_tokens_per_second("mac", "qwen"), Some(rate));
    }

    #[test]
    fn short_prompts_do_not_teach_prefill() {
        let learned = LearnedPrefill::default();
        learned.observe("mac", "qwen", 20, 0.001);
        assert_eq!(learned.prefill_tokens_per_second("mac", "qwen"), None);
    }
}
