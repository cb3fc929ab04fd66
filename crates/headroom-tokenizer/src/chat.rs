//! Chat templates: rendering messages to the prompt text a server tokenizes.
//!
//! Jinja templates (`tokenizer.chat_template` in a GGUF, `chat_template` in a
//! `tokenizer_config.json`) render with `minijinja` configured as Hugging Face renders them
//! (`trim_blocks`, `lstrip_blocks`, Python string methods, `raise_exception`, `strftime_now`,
//! `tojson`), with the context llama.cpp's server passes (`messages`, `bos_token`, `eos_token`,
//! `add_generation_prompt`); afterwards a BOS the template wrote is removed when the tokenizer adds
//! one itself, as llama.cpp `common_chat_template_direct_apply` does (likewise a trailing EOS).
//! Ollama templates (Go `text/template`) render through `go_template`.

use serde::{Deserialize, Serialize};

use crate::TokenizerError;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with this role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A chat template and its language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// Jinja (Hugging Face / GGUF `tokenizer.chat_template`).
    Jinja(String),
    /// Go `text/template` as Ollama's Modelfile `TEMPLATE` (the subset documented in `go_template`).
    Ollama(String),
}

/// Renders `messages`; returns the text and whether the tokenizer should still add BOS/EOS.
pub(crate) fn render(
    template: &ChatTemplate,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos: &str,
    eos: &str,
    add_bos: bool,
    add_eos: bool,
) -> Result<(String, bool), TokenizerError> {
    match template {
        ChatTemplate::Jinja(source) => {
            let mut text = render_jinja(source, messages, add_generation_prompt, bos, eos)?;
            if add_bos && !bos.is_empty() && text.starts_with(bos) {
                text.drain(..bos.len());
            }
            if add_eos && !eos.is_empty() && text.ends_with(eos) {
                text.truncate(text.len() - eos.len());
            }
            Ok((text, true))
        }
        ChatTemplate::Ollama(source) => {
            // Ollama tokenizes the rendered prompt with BOS added per the model (llama runner
            // `Tokenize(prompt, addSpecial=true)`), so the same flag applies.
            Ok((crate::go_template::render(source, messages)?, true))
        }
    }
}

fn raise_exception(message: String) -> Result<String, minijinja::Error> {
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        message,
    ))
}

/// `strftime_now(format)` as transformers provides it, from the system clock (UTC).
fn strftime_now(format: String) -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|duration| duration.as_secs())
        .unwrap_or(0);
    strftime_utc(&format, seconds)
}

/// The subset of `strftime` chat templates use (`%d %b %Y`, `%Y-%m-%d`, `%B`, `%A`, `%H:%M`).
pub(crate) fn strftime_utc(format: &str, unix_seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let days = unix_seconds / 86_400;
    let seconds_of_day = unix_seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let month_name = MONTHS[(month - 1) as usize];
    let weekday = DAYS[(days % 7) as usize];
    let mut out = String::new();
    let mut characters = format.chars();
    while let Some(character) = characters.next() {
        if character != '%' {
            out.push(character);
            continue;
        }
        match characters.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('b') => out.push_str(&month_name[..3]),
            Some('B') => out.push_str(month_name),
            Some('a') => out.push_str(&weekday[..3]),
            Some('A') => out.push_str(weekday),
            Some('H') => out.push_str(&format!("{:02}", seconds_of_day / 3600)),
            Some('M') => out.push_str(&format!("{:02}", seconds_of_day / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", seconds_of_day % 60)),
            Some('-') => match characters.next() {
                Some('d') => out.push_str(&day.to_string()),
                Some('m') => out.push_str(&month.to_string()),
                Some(other) => {
                    out.push_str("%-");
                    out.push(other);
                }
                None => out.push_str("%-"),
            },
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

fn render_jinja(
    source: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos: &str,
    eos: &str,
) -> Result<String, TokenizerError> {
    let mut environment = minijinja::Environment::new();
    environment.set_trim_blocks(true);
    environment.set_lstrip_blocks(true);
    environment.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    environment.add_function("raise_exception", raise_exception);
    environment.add_function("strftime_now", strftime_now);
    environment.add_template("chat", source)?;
    let template = environment.get_template("chat")?;
    let rendered = template.render(minijinja::context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos,
        eos_token => eos,
    })?;
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_formats_a_known_date() {
        // 2024-07-26 00:00:00 UTC.
        assert_eq!(strftime_utc("%d %b %Y", 1_721_952_000), "26 Jul 2024");
        assert_eq!(strftime_utc("%A %B %-d", 1_721_952_000), "Friday July 26");
    }

    #[test]
    fn jinja_template_renders_chatml_and_strips_a_doubled_bos() {
        let template = "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content | trim }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        let messages = [ChatMessage::new("user", " hi ")];
        let (text, add_special) = render(
            &ChatTemplate::Jinja(template.to_owned()),
            &messages,
            true,
            "<s>",
            "</s>",
            true,
            false,
        )
        .unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(add_special);
    }

    #[test]
    fn raise_exception_is_an_error() {
        let template = "{{ raise_exception('no system role') }}";
        assert!(
            render(
                &ChatTemplate::Jinja(template.to_owned()),
                &[],
                false,
                "",
                "",
                false,
                false
            )
            .is_err()
        );
    }
}
