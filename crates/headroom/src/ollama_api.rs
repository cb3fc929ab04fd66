//! A small blocking HTTP/1.1 client for the Ollama API over `std::net` (plain `http://` only),
//! with connect and read timeouts and errors that name the URL. Replies decode into the serde
//! types of `headroom_ollama::api`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use headroom_ollama::OllamaHost;
use headroom_ollama::api::{
    ErrorResponse, PsResponse, ShowRequest, ShowResponse, TagsResponse, VersionResponse,
};
use serde::de::DeserializeOwned;

/// Replies larger than this are refused (a verbose `/api/show` of a big model is a few MB).
const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;

/// A client for one Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    host: OllamaHost,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl OllamaClient {
    /// A client for `host` (made connectable: `0.0.0.0` becomes `127.0.0.1`).
    pub fn new(host: &OllamaHost, connect_timeout: Duration, read_timeout: Duration) -> Self {
        Self {
            host: host.connectable(),
            connect_timeout,
            read_timeout,
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> String {
        self.host.base_url()
    }

    /// `GET /api/version`.
    pub fn version(&self) -> anyhow::Result<VersionResponse> {
        self.get("/api/version")
    }

    /// `GET /api/tags`.
    pub fn tags(&self) -> anyhow::Result<TagsResponse> {
        self.get("/api/tags")
    }

    /// `GET /api/ps`.
    pub fn ps(&self) -> anyhow::Result<PsResponse> {
        self.get("/api/ps")
    }

    /// `POST /api/show` with `verbose: true` (without it long arrays come back empty).
    pub fn show(&self, model: &str) -> anyhow::Result<ShowResponse> {
        let body = serde_json::to_string(&ShowRequest::verbose(model))?;
        self.request("POST", "/api/show", Some(&body))
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.request("GET", path, None)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<T> {
        let url = self.url(path);
        let (status, bytes) = self
            .exchange(method, path, body)
            .with_context(|| format!("{method} {url}"))?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<ErrorResponse>(&bytes)
                .map(|error| error.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(300).collect());
            bail!("{method} {url}: HTTP {status}: {message}");
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{method} {url}: the reply is not the JSON Ollama documents"))
    }

    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        if self.host.scheme != "http" {
            bail!(
                "scheme {:?} is not supported: the built-in client speaks plain http (use an http:// OLLAMA_HOST or --host)",
                self.host.scheme
            );
        }
        let authority = self.host.authority();
        let addresses: Vec<_> = authority
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {authority}"))?
            .collect();
        let mut last_error = None;
        let mut stream = None;
        for address in &addresses {
            match TcpStream::connect_timeout(address, self.connect_timeout) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last_error = Some(error),
            }
        }
        let Some(mut stream) = stream else {
            let reason =
                last_error.map_or_else(|| "no address".to_owned(), |error| error.to_string());
            bail!(
                "no Ollama server answered at {} ({reason}); start it with `ollama serve`, or point OLLAMA_HOST (or --host) at it",
                self.base_url()
            );
        };
        stream.set_read_timeout(Some(self.read_timeout))?;
        stream.set_write_timeout(Some(self.read_timeout))?;
        let full_path = if self.host.path.is_empty() {
            path.to_owned()
        } else {
            format!("/{}{path}", self.host.path.trim_matches('/'))
        };
        let mut head = format!(
            "{method} {full_path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: headroom/{}\r\nAccept: application/json\r\nConnection: close\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if let Some(body) = body {
            stream.write_all(body.as_bytes())?;
        }
        stream.flush()?;
        read_response(stream).map_err(|error| {
            if error.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }) {
                anyhow!(
                    "{} did not answer within {:.0} s",
                    self.base_url(),
                    self.read_timeout.as_secs_f64()
                )
            } else {
                error
            }
        })
    }
}

/// Reads status, headers and the body (Content-Length, chunked, or to end of stream).
fn read_response(stream: TcpStream) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP response: {:?}", status_line.trim_end()))?;
    let mut content_length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse::<u64>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_text = size_line.trim().split(';').next().unwrap_or_default();
            let size = u64::from_str_radix(size_text, 16)
                .with_context(|| format!("bad chunk size {size_text:?}"))?;
            if size == 0 {
                break;
            }
            if body.len() as u64 + size > MAX_BODY_BYTES {
                bail!("reply larger than {MAX_BODY_BYTES} bytes");
            }
            (&mut reader).take(size).read_to_end(&mut body)?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    } else if let Some(length) = content_length {
        if length > MAX_BODY_BYTES {
            bail!("reply of {length} bytes is larger than {MAX_BODY_BYTES}");
        }
        (&mut reader).take(length).read_to_end(&mut body)?;
    } else {
        reader.take(MAX_BODY_BYTES).read_to_end(&mut body)?;
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../headroom-ollama/tests/fixtures/api")
            .join(name);
        fs_err::read(path).unwrap()
    }

    /// Serves `replies` (status, body, chunked) to consecutive connections on 127.0.0.1 and
    /// sends back each request head and body.
    fn fake_server(replies: Vec<(u16, Vec<u8>, bool)>) -> (OllamaHost, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            for (status, body, chunked) in replies {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                    request.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut request_body = vec![0; length];
                reader.read_exact(&mut request_body).unwrap();
                request.push_str(&String::from_utf8(request_body).unwrap());
                sender.send(request).unwrap();
                let mut stream = stream;
                if chunked {
                    write!(stream, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
                    for chunk in body.chunks(7) {
                        write!(stream, "{:x}\r\n", chunk.len()).unwrap();
                        stream.write_all(chunk).unwrap();
                        stream.write_all(b"\r\n").unwrap();
                    }
                    stream.write_all(b"0\r\n\r\n").unwrap();
                } else {
                    write!(stream, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
                    stream.write_all(&body).unwrap();
                }
            }
        });
        (OllamaHost::parse(&format!("127.0.0.1:{port}")), receiver)
    }

    fn client(host: &OllamaHost) -> OllamaClient {
        OllamaClient::new(host, Duration::from_secs(2), Duration::from_secs(5))
    }

    #[test]
    fn reads_version_tags_and_ps() {
        let (host, requests) = fake_server(vec![
            (200, fixture("version.json"), false),
            (200, fixture("tags.json"), true),
            (200, fixture("ps.json"), false),
        ]);
        let client = client(&host);
        assert_eq!(client.version().unwrap().version, "0.5.1");
        let tags = client.tags().unwrap();
        assert_eq!(tags.models.len(), 2);
        assert_eq!(tags.models[0].details.quantization_level, "Q4_K_M");
        let ps = client.ps().unwrap();
        assert_eq!(ps.models[0].size_vram, 5_137_025_024);
        assert_eq!(ps.models[0].context_length, None);
        assert!(
            requests
                .recv()
                .unwrap()
                .starts_with("GET /api/version HTTP/1.1\r\n")
        );
        assert!(
            requests
                .recv()
                .unwrap()
                .starts_with("GET /api/tags HTTP/1.1\r\n")
        );
    }

    #[test]
    fn show_asks_for_verbose() {
        let (host, requests) =
            fake_server(vec![(200, fixture("show-llava-not-verbose.json"), true)]);
        let show = client(&host).show("llava").unwrap();
        assert_eq!(show.trained_context_length(), Some(8192));
        assert!(show.blanked_arrays().contains(&"tokenizer.ggml.tokens"));
        let request = requests.recv().unwrap();
        assert!(
            request.starts_with("POST /api/show HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.ends_with(r#"{"model":"llava","verbose":true}"#),
            "{request}"
        );
    }

    #[test]
    fn http_errors_carry_ollamas_message_and_the_url() {
        let (host, _requests) = fake_server(vec![(
            404,
            br#"{"error":"model 'nope' not found"}"#.to_vec(),
            false,
        )]);
        let error = client(&host).show("nope").unwrap_err().to_string();
        assert!(
            error.contains("HTTP 404: model 'nope' not found"),
            "{error}"
        );
        assert!(error.contains(&host.base_url()), "{error}");
    }

    #[test]
    fn no_server_names_the_url() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let host = OllamaHost::parse(&format!("127.0.0.1:{port}"));
        let error = client(&host).version().unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains(&format!(
                "no Ollama server answered at http://127.0.0.1:{port}"
            )),
            "{text}"
        );
    }

    #[test]
    fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = OllamaHost::parse(&listener.local_addr().unwrap().to_string());
        let quick = OllamaClient::new(&host, Duration::from_secs(2), Duration::from_millis(200));
        let error = format!("{:#}", quick.version().unwrap_err());
        assert!(error.contains("did not answer within"), "{error}");
        drop(listener);
    }

    #[test]
    fn https_is_refused_clearly() {
        let host = OllamaHost::parse("https://example.invalid");
        let error = format!("{:#}", client(&host).version().unwrap_err());
        assert!(error.contains("plain http"), "{error}");
    }

    #[test]
    fn generate_timings_decode() {
        let timings: headroom_ollama::api::Timings =
            serde_json::from_slice(&fixture("generate-final.json")).unwrap();
        assert_eq!(timings.prompt_eval_count, Some(26));
        assert!((timings.eval_tokens_per_second().unwrap() - 259.0 / 4.23271).abs() < 1e-6);
    }
}
