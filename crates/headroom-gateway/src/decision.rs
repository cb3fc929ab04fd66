//! The routing decision, a pure function of what is known before any byte goes upstream:
//! privacy first (fail-closed), then local when the prompt fits the window (raising `num_ctx`
//! when memory allows) and meets the deadline, else the smallest cloud window that holds it if
//! the request may leave, else an error that says how many tokens, which limit, and the fix.
//!
//! Sizes use the count's upper bound: an estimate can only make the router more careful, never
//! truncate.

use crate::privacy::PrivacyVerdict;
use crate::seams::{LocalWindow, TokenCount};

/// `num_ctx` is raised in steps of this many tokens so that nearby request sizes share one
/// loaded window instead of reloading the model for every request (Ollama reloads the runner
/// whenever `num_ctx` changes: `server/sched.go` `needsReload`).
pub const NUM_CTX_STEP_TOKENS: u64 = 1_024;

/// The local target as the router sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalOption {
    /// Backend name.
    pub backend: String,
    /// Model on the backend.
    pub model: String,
    /// Window facts.
    pub window: LocalWindow,
    /// Learned or prior prefill rate.
    pub prefill_tokens_per_second: Option<f64>,
    /// Whether any host of the pool is up.
    pub healthy: bool,
}

/// A cloud target as the router sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudOption {
    /// Backend name.
    pub backend: String,
    /// Model on the backend.
    pub model: String,
    /// Documented window.
    pub context_window_tokens: u64,
    /// Whether the backend is up.
    pub healthy: bool,
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct RouteInput<'a> {
    /// The model name the client used.
    pub model_name: &'a str,
    /// Privacy verdict.
    pub privacy: &'a PrivacyVerdict,
    /// Prompt size.
    pub count: TokenCount,
    /// Tokens kept for the answer.
    pub reserve_output_tokens: u64,
    /// Seconds the client waits for the first token.
    pub deadline_seconds: Option<f64>,
    /// The local target, if the model has one.
    pub local: Option<&'a LocalOption>,
    /// Cloud targets.
    pub clouds: &'a [CloudOption],
}

/// Where one attempt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The local backend, with the `num_ctx` to send.
    Local {
        /// Window to request; `None` when the backend's window is fixed.
        num_ctx: Option<u64>,
        /// Whether this raises the loaded window.
        raised: bool,
    },
    /// A cloud target, by index into `RouteInput::clouds`.
    Cloud {
        /// Index.
        index: usize,
    },
}

impl Target {
    /// Whether the target is local.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local { .. })
    }
}

/// A plan: targets in failover order (the first is the decision; later ones are tried only if
/// an earlier one fails before its first byte) and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Ordered targets, never empty; cloud targets only when the request may leave.
    pub targets: Vec<Target>,
    /// Stable reason code.
    pub reason: &'static str,
    /// One sentence for humans.
    pub explanation: String,
    /// Predicted prefill time on the local target, when known.
    pub predicted_local_seconds: Option<f64>,
}

/// Why a request cannot run anywhere it is allowed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Stable code.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What happened, with numbers and the fix.
    pub message: String,
    /// Prompt tokens (upper bound).
    pub prompt_tokens: u64,
    /// The limit it ran into, in tokens, when a window was the limit.
    pub limit_tokens: Option<u64>,
}

/// The outcome for the local target.
#[derive(Debug, Clone, PartialEq)]
enum LocalVerdict {
    Fits {
        num_ctx: Option<u64>,
        raised: bool,
        predicted_seconds: Option<f64>,
    },
    TooLarge {
        limit_tokens: u64,
        limit: String,
    },
    UnknownWindow,
    TooSlow {
        predicted_seconds: f64,
        deadline_seconds: f64,
        rate: f64,
        max_tokens_in_time: u64,
    },
    Unhealthy,
    Absent,
}

/// Formats 146760 as "146,760".
pub fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn round_up(value: u64, step: u64) -> u64 {
    value.div_ceil(step).saturating_mul(step)
}

fn judge_local(input: &RouteInput<'_>, needed: u64) -> LocalVerdict {
    let Some(local) = input.local else {
        return LocalVerdict::Absent;
    };
    if !local.healthy {
        return LocalVerdict::Unhealthy;
    }
    let window = &local.window;
    // Raise only when memory is known to allow it; otherwise the loaded window is the limit.
    let (limit_tokens, limit) = match (window.adjustable, window.memory_max_context_tokens) {
        (true, Some(memory)) => match window.training_context_tokens {
            Some(training) if training < memory => (
                training,
                format!("the model's training window ({} tokens)", grouped(training)),
            ),
            _ => (
                memory,
                format!(
                    "the largest window memory allows ({} tokens)",
                    grouped(memory)
                ),
            ),
        },
        _ => match window.loaded_context_tokens {
            Some(loaded) => (
                loaded,
                format!(
                    "the loaded window ({} tokens, cannot be raised here)",
                    grouped(loaded)
                ),
            ),
            None => return LocalVerdict::UnknownWindow,
        },
    };
    if needed > limit_tokens {
        return LocalVerdict::TooLarge {
            limit_tokens,
            limit,
        };
    }
    let predicted_seconds = local
        .prefill_tokens_per_second
        .filter(|rate| *rate > 0.0)
        .map(|rate| input.count.upper_bound_tokens as f64 / rate);
    if let (Some(predicted), Some(deadline), Some(rate)) = (
        predicted_seconds,
        input.deadline_seconds,
        local.prefill_tokens_per_second,
    ) && predicted > deadline
    {
        return LocalVerdict::TooSlow {
            predicted_seconds: predicted,
            deadline_seconds: deadline,
            rate,
            max_tokens_in_time: (deadline * rate) as u64,
        };
    }
    if !window.adjustable {
        return LocalVerdict::Fits {
            num_ctx: None,
            raised: false,
            predicted_seconds,
        };
    }
    match window.loaded_context_tokens {
        Some(loaded) if loaded >= needed => LocalVerdict::Fits {
            num_ctx: Some(loaded),
            raised: false,
            predicted_seconds,
        },
        loaded => LocalVerdict::Fits {
            num_ctx: Some(round_up(needed, NUM_CTX_STEP_TOKENS).min(limit_tokens)),
            raised: loaded.is_some(),
            predicted_seconds,
        },
    }
}

/// Decides where a request goes.
pub fn decide(input: &RouteInput<'_>) -> Result<Plan, Rejection> {
    let prompt_tokens = input.count.upper_bound_tokens;
    let needed = prompt_tokens.saturating_add(input.reserve_output_tokens);
    let local = judge_local(input, needed);

    let mut fitting_clouds: Vec<usize> = (0..input.clouds.len())
        .filter(|&index| input.clouds[index].context_window_tokens >= needed)
        .collect();
    // Smallest window first; healthy before unhealthy; config order breaks ties.
    fitting_clouds.sort_by_key(|&index| {
        (
            !input.clouds[index].healthy,
            input.clouds[index].context_window_tokens,
            index,
        )
    });
    let size = describe_size(input);

    if let LocalVerdict::Fits {
        num_ctx,
        raised,
        predicted_seconds,
    } = local
    {
        let mut targets = vec![Target::Local { num_ctx, raised }];
        if input.privacy.may_leave() {
            targets.extend(fitting_clouds.iter().map(|&index| Target::Cloud { index }));
        }
        let (reason, explanation) = match (raised, num_ctx) {
            (true, Some(num_ctx)) => (
                "local-num-ctx-raised",
                format!(
                    "{size} fits locally with num_ctx raised to {}",
                    grouped(num_ctx)
                ),
            ),
            _ => ("local-fits", format!("{size} fits the local window")),
        };
        return Ok(Plan {
            targets,
            reason,
            explanation,
            predicted_local_seconds: predicted_seconds,
        });
    }

    let local_problem = describe_local(input, &local, needed);
    let predicted_local_seconds = match local {
        LocalVerdict::TooSlow {
            predicted_seconds, ..
        } => Some(predicted_seconds),
        _ => None,
    };
    if input.privacy.may_leave() {
        if let Some(&first) = fitting_clouds.first() {
            let cloud = &input.clouds[first];
            let reason = match local {
                LocalVerdict::TooLarge { .. } | LocalVerdict::UnknownWindow => {
                    "cloud-local-too-small"
                }
                LocalVerdict::TooSlow { .. } => "cloud-local-too-slow",
                LocalVerdict::Unhealthy => "cloud-local-unhealthy",
                _ => "cloud-no-local-target",
            };
            return Ok(Plan {
                targets: fitting_clouds
                    .iter()
                    .map(|&index| Target::Cloud { index })
                    .collect(),
                reason,
                explanation: format!(
                    "{local_problem}; public, so sent to {} ({} tokens), the smallest cloud window that holds it",
                    cloud.model,
                    grouped(cloud.context_window_tokens)
                ),
                predicted_local_seconds,
            });
        }
        let largest = input
            .clouds
            .iter()
            .map(|cloud| cloud.context_window_tokens)
            .max();
        let message = match largest {
            Some(largest) => format!(
                "{size} needs {} tokens with the answer; {local_problem}, and the largest cloud window is {} tokens. Fix: shorten the prompt or split the task.",
                grouped(needed),
                grouped(largest)
            ),
            None => format!(
                "{size}: {local_problem}, and model {} has no cloud target. Fix: shorten the prompt, or add a cloud target to the model in the gateway config.",
                input.model_name
            ),
        };
        return Err(Rejection {
            code: "exceeds-every-window",
            status: 400,
            message,
            prompt_tokens,
            limit_tokens: largest,
        });
    }

    let hint = match fitting_clouds.first() {
        Some(&index) => format!(
            " or, if the code may leave this machine, mark the request public (header x-headroom-privacy: public, a public alias or project) to use {} ({} tokens)",
            input.clouds[index].model,
            grouped(input.clouds[index].context_window_tokens)
        ),
        None => String::new(),
    };
    let privacy = &input.privacy.reason;
    let (code, status, fix, limit_tokens) = match &local {
        LocalVerdict::TooLarge { limit_tokens, .. } => (
            "private-exceeds-local-window",
            400,
            format!(
                "shorten the prompt below {} tokens{hint}",
                grouped(limit_tokens.saturating_sub(input.reserve_output_tokens))
            ),
            Some(*limit_tokens),
        ),
        LocalVerdict::TooSlow {
            predicted_seconds,
            max_tokens_in_time,
            ..
        } => (
            "private-exceeds-deadline",
            400,
            format!(
                "raise the client timeout to at least {:.0} s (and send x-headroom-deadline-seconds), shorten the prompt below {} tokens{hint}",
                predicted_seconds.ceil() + 1.0,
                grouped(*max_tokens_in_time)
            ),
            None,
        ),
        LocalVerdict::Unhealthy => (
            "private-local-unhealthy",
            503,
            format!("start the local backend{hint}"),
            None,
        ),
        LocalVerdict::UnknownWindow => (
            "private-local-window-unknown",
            400,
            format!(
                "set max_num_ctx_tokens for the model's local target in the gateway config{hint}"
            ),
            None,
        ),
        LocalVerdict::Absent | LocalVerdict::Fits { .. } => (
            "private-no-local-target",
            400,
            format!(
                "add a local target to model {} in the gateway config{hint}",
                input.model_name
            ),
            None,
        ),
    };
    Err(Rejection {
        code,
        status,
        message: format!(
            "{size} is private ({privacy}) and cannot run locally: {local_problem}. Fix: {fix}."
        ),
        prompt_tokens,
        limit_tokens,
    })
}

fn describe_size(input: &RouteInput<'_>) -> String {
    let count = &input.count;
    if count.is_exact() {
        format!("the request ({} prompt tokens)", grouped(count.tokens))
    } else {
        format!(
            "the request (about {} prompt tokens, at most {} by the estimator's margin)",
            grouped(count.tokens),
            grouped(count.upper_bound_tokens)
        )
    }
}

fn describe_local(input: &RouteInput<'_>, local: &LocalVerdict, needed: u64) -> String {
    match local {
        LocalVerdict::TooLarge { limit, .. } => format!(
            "it needs {} tokens with {} reserved for the answer, more than {limit}",
            grouped(needed),
            grouped(input.reserve_output_tokens)
        ),
        LocalVerdict::TooSlow {
            predicted_seconds,
            deadline_seconds,
            rate,
            ..
        } => format!(
            "local prefill would take about {predicted_seconds:.0} s at the learned {rate:.0} tokens/s, past the {deadline_seconds:.0} s deadline"
        ),
        LocalVerdict::Unhealthy => "the local backend is not answering".to_string(),
        LocalVerdict::UnknownWindow => {
            "the local window is unknown (nothing loaded, no memory limit configured)".to_string()
        }
        LocalVerdict::Absent => format!("model {} has no local target", input.model_name),
        LocalVerdict::Fits { .. } => "it fits locally".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PrivacyMark;
    use proptest::prelude::*;

    fn verdict(public: bool) -> PrivacyVerdict {
        PrivacyVerdict {
            mark: if public {
                PrivacyMark::Public
            } else {
                PrivacyMark::Private
            },
            reason: "test".into(),
        }
    }

    /// The story: Qwen3-Coder loaded at 131,072 (the v-128k tag), trained and memory-fit for 262,144, 400 tokens/s.
    fn story_local() -> LocalOption {
        LocalOption {
            backend: "mac".into(),
            model: "qwen3-coder:30b".into(),
            window: LocalWindow {
                loaded_context_tokens: Some(131_072),
                training_context_tokens: Some(262_144),
                memory_max_context_tokens: Some(262_144),
                adjustable: true,
            },
            prefill_tokens_per_second: Some(400.0),
            healthy: true,
        }
    }

    fn story_clouds() -> Vec<CloudOption> {
        vec![
            CloudOption {
                backend: "gemini".into(),
                model: "gemini-2.5-pro".into(),
                context_window_tokens: 1_048_576,
                healthy: true,
            },
            CloudOption {
                backend: "mistral".into(),
                model: "devstral".into(),
                context_window_tokens: 262_144,
                healthy: true,
            },
        ]
    }

    fn input<'a>(
        privacy: &'a PrivacyVerdict,
        tokens: u64,
        local: Option<&'a LocalOption>,
        clouds: &'a [CloudOption],
    ) -> RouteInput<'a> {
        RouteInput {
            model_name: "qwen3-coder:30b",
            privacy,
            count: TokenCount::exact(tokens),
            reserve_output_tokens: 8_192,
            deadline_seconds: Some(300.0),
            local,
            clouds,
        }
    }

    #[test]
    fn story_public_long_prompt_goes_to_smallest_cloud_that_holds_it() {
        let (privacy, local, clouds) = (verdict(true), story_local(), story_clouds());
        let plan = decide(&input(&privacy, 146_760, Some(&local), &clouds)).unwrap();
        assert_eq!(plan.reason, "cloud-local-too-slow");
        assert_eq!(
            plan.targets,
            vec![Target::Cloud { index: 1 }, Target::Cloud { index: 0 }]
        );
        assert!(plan.explanation.contains("367 s"), "{}", plan.explanation);
    }

    #[test]
    fn story_private_long_prompt_is_rejected_with_numbers_and_fix() {
        let (privacy, local, clouds) = (verdict(false), story_local(), story_clouds());
        let rejection = decide(&input(&privacy, 146_760, Some(&local), &clouds)).unwrap_err();
        assert_eq!(rejection.code, "private-exceeds-deadline");
        assert!(
            rejection.message.contains("146,760"),
            "{}",
            rejection.message
        );
        assert!(
            rejection.message.contains("300 s deadline"),
            "{}",
            rejection.message
        );
        assert!(
            rejection.message.contains("at least 368 s"),
            "{}",
            rejection.message
        );
        assert!(
            rejection.message.contains("devstral"),
            "{}",
            rejection.message
        );
    }

    #[test]
    fn story_twenty_thousand_runs_locally_in_loaded_window() {
        let (privacy, local, clouds) = (verdict(true), story_local(), story_clouds());
        let plan = decide(&input(&privacy, 20_000, Some(&local), &clouds)).unwrap();
        assert_eq!(
            plan.targets[0],
            Target::Local {
                num_ctx: Some(131_072),
                raised: false
            }
        );
        assert_eq!(plan.reason, "local-fits");
    }

    #[test]
    fn raises_num_ctx_when_loaded_window_is_small_and_memory_allows() {
        let privacy = verdict(false);
        let mut local = story_local();
        local.window.loaded_context_tokens = Some(4_096);
        let plan = decide(&input(&privacy, 20_000, Some(&local), &[])).unwrap();
        // 20,000 + 8,192 = 28,192, rounded up to a multiple of 1,024.
        assert_eq!(
            plan.targets,
            vec![Target::Local {
                num_ctx: Some(28_672),
                raised: true
            }]
        );
        assert_eq!(plan.reason, "local-num-ctx-raised");
    }

    #[test]
    fn does_not_raise_without_a_known_memory_limit() {
        let privacy = verdict(false);
        let mut local = story_local();
        local.window.loaded_context_tokens = Some(4_096);
        local.window.memory_max_context_tokens = None;
        let rejection = decide(&input(&privacy, 20_000, Some(&local), &[])).unwrap_err();
        assert_eq!(rejection.code, "private-exceeds-local-window");
        assert_eq!(rejection.limit_tokens, Some(4_096));
    }

    #[test]
    fn training_window_caps_memory_limit() {
        let privacy = verdict(true);
        let mut local = story_local();
        local.window.memory_max_context_tokens = Some(1_000_000);
        local.prefill_tokens_per_second = Some(100_000.0);
        let clouds = story_clouds();
        let plan = decide(&input(&privacy, 300_000, Some(&local), &clouds)).unwrap();
        assert_eq!(plan.reason, "cloud-local-too-small");
        assert_eq!(plan.targets, vec![Target::Cloud { index: 0 }]);
    }

    #[test]
    fn public_request_too_large_for_every_window_is_rejected() {
        let (privacy, local, clouds) = (verdict(true), story_local(), story_clouds());
        let rejection = decide(&input(&privacy, 1_200_000, Some(&local), &clouds)).unwrap_err();
        assert_eq!(rejection.code, "exceeds-every-window");
        assert_eq!(rejection.limit_tokens, Some(1_048_576));
    }

    #[test]
    fn private_request_with_local_down_is_503() {
        let privacy = verdict(false);
        let mut local = story_local();
        local.healthy = false;
        let clouds = story_clouds();
        let rejection = decide(&input(&privacy, 100, Some(&local), &clouds)).unwrap_err();
        assert_eq!(rejection.status, 503);
    }

    #[test]
    fn public_request_with_local_down_goes_to_cloud() {
        let privacy = verdict(true);
        let mut local = story_local();
        local.healthy = false;
        let clouds = story_clouds();
        let plan = decide(&input(&privacy, 100, Some(&local), &clouds)).unwrap();
        assert_eq!(plan.reason, "cloud-local-unhealthy");
    }

    #[test]
    fn unhealthy_cloud_is_tried_last() {
        let privacy = verdict(true);
        let mut clouds = story_clouds();
        clouds[1].healthy = false;
        let plan = decide(&input(&privacy, 100_000, None, &clouds)).unwrap();
        assert_eq!(
            plan.targets,
            vec![Target::Cloud { index: 0 }, Target::Cloud { index: 1 }]
        );
    }

    #[test]
    fn fixed_window_backend_gets_no_num_ctx() {
        let privacy = verdict(false);
        let mut local = story_local();
        local.window = LocalWindow {
            loaded_context_tokens: Some(32_768),
            adjustable: false,
            ..Default::default()
        };
        let plan = decide(&input(&privacy, 20_000, Some(&local), &[])).unwrap();
        assert_eq!(
            plan.targets,
            vec![Target::Local {
                num_ctx: None,
                raised: false
            }]
        );
    }

    #[test]
    fn estimate_upper_bound_decides() {
        let privacy = verdict(false);
        let mut local = story_local();
        local.window.memory_max_context_tokens = None;
        let mut route = input(&privacy, 0, Some(&local), &[]);
        route.count = TokenCount {
            tokens: 100_000,
            upper_bound_tokens: 130_000,
            method: crate::seams::CountMethod::Estimate {
                bytes_per_token: 3.0,
                worst_bytes_per_token: 1.75,
            },
        };
        route.deadline_seconds = None;
        let rejection = decide(&route).unwrap_err();
        assert!(
            rejection.message.contains("at most 130,000"),
            "{}",
            rejection.message
        );
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(146_760), "146,760");
        assert_eq!(grouped(1_048_576), "1,048,576");
    }

    fn arbitrary_local() -> impl Strategy<Value = Option<LocalOption>> {
        proptest::option::of((
            proptest::option::of(1u64..2_000_000),
            proptest::option::of(1u64..2_000_000),
            proptest::option::of(1u64..2_000_000),
            any::<bool>(),
            proptest::option::of(1.0f64..100_000.0),
            any::<bool>(),
        ))
        .prop_map(|local| {
            local.map(
                |(loaded, training, memory, adjustable, rate, healthy)| LocalOption {
                    backend: "local".into(),
                    model: "m".into(),
                    window: LocalWindow {
                        loaded_context_tokens: loaded,
                        training_context_tokens: training,
                        memory_max_context_tokens: memory,
                        adjustable,
                    },
                    prefill_tokens_per_second: rate,
                    healthy,
                },
            )
        })
    }

    fn arbitrary_clouds() -> impl Strategy<Value = Vec<CloudOption>> {
        proptest::collection::vec((1u64..2_000_000, any::<bool>()), 0..4).prop_map(|clouds| {
            clouds
                .into_iter()
                .enumerate()
                .map(|(index, (window, healthy))| CloudOption {
                    backend: format!("cloud{index}"),
                    model: format!("c{index}"),
                    context_window_tokens: window,
                    healthy,
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn private_requests_never_get_a_cloud_target(
            tokens in 0u64..3_000_000,
            margin in 0u64..1_000_000,
            reserve in 0u64..100_000,
            deadline in proptest::option::of(0.1f64..10_000.0),
            local in arbitrary_local(),
            clouds in arbitrary_clouds(),
        ) {
            let privacy = verdict(false);
            let route = RouteInput {
                model_name: "m",
                privacy: &privacy,
                count: TokenCount {
                    tokens,
                    upper_bound_tokens: tokens + margin,
                    method: crate::seams::CountMethod::Estimate { bytes_per_token: 3.0, worst_bytes_per_token: 1.75 },
                },
                reserve_output_tokens: reserve,
                deadline_seconds: deadline,
                local: local.as_ref(),
                clouds: &clouds,
            };
            if let Ok(plan) = decide(&route) {
                prop_assert!(plan.targets.iter().all(Target::is_local));
            }
        }

        #[test]
        fn every_target_holds_the_request(
            tokens in 0u64..3_000_000,
            reserve in 0u64..100_000,
            public in any::<bool>(),
            local in arbitrary_local(),
            clouds in arbitrary_clouds(),
        ) {
            let privacy = verdict(public);
            let route = RouteInput {
                model_name: "m",
                privacy: &privacy,
                count: TokenCount::exact(tokens),
                reserve_output_tokens: reserve,
                deadline_seconds: None,
                local: local.as_ref(),
                clouds: &clouds,
            };
            match decide(&route) {
                Ok(plan) => {
                    prop_assert!(!plan.targets.is_empty());
                    for target in &plan.targets {
                        match target {
                            Target::Local { num_ctx: Some(num_ctx), .. } => prop_assert!(*num_ctx >= tokens + reserve),
                            Target::Local { num_ctx: None, .. } => {}
                            Target::Cloud { index } => prop_assert!(clouds[*index].context_window_tokens >= tokens + reserve),
                        }
                    }
                }
                Err(rejection) => {
                    prop_assert!(rejection.message.contains("Fix:"));
                }
            }
        }
    }
}
