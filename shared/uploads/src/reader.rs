//! Reading an upload line by line from a byte offset (the fan-out's preparation): a presigned
//! GET with `Range: bytes={from}-`, streamed, so a 1,000,000-line list is never whole in memory
//! and a job resumes where the last one stopped. `If-Match` pins the object the preparation
//! started with: a list replaced meanwhile is refused, never half one and half the other.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_MATCH, RANGE};
use thiserror::Error;

use crate::Presigner;

/// How long one presigned GET is valid (it is used at once).
const GET_EXPIRY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("no such upload")]
    NotFound,
    /// The object is not the one the preparation started with (`If-Match` failed).
    #[error("the upload changed while it was being read")]
    Changed,
    /// S3 or the network: retry later.
    #[error("reading the upload: {0}")]
    Unavailable(String),
}

/// Reads uploads. Built once per process.
#[derive(Debug, Clone)]
pub struct Reader {
    http: reqwest::Client,
    presigner: Presigner,
}

impl Reader {
    pub fn new(presigner: Presigner) -> Result<Self, ReadError> {
        // reqwest's rustls has no provider of its own: ring, as the AWS SDK's client (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .read_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        Ok(Self { http, presigner })
    }

    /// The object from byte `from` on, if it still is `etag` (when given).
    pub async fn open(
        &self,
        key: &str,
        from: u64,
        etag: Option<&str>,
    ) -> Result<Object, ReadError> {
        let url = self
            .presigner
            .presign("GET", key, GET_EXPIRY, SystemTime::now())
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        let mut request = self.http.get(url).header(RANGE, format!("bytes={from}-"));
        if let Some(etag) = etag {
            request = request.header(IF_MATCH, etag);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        match response.status() {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT => {}
            StatusCode::NOT_FOUND => return Err(ReadError::NotFound),
            StatusCode::PRECONDITION_FAILED => return Err(ReadError::Changed),
            // Nothing at or after `from` (an empty object, or the end reached).
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let total = header(CONTENT_RANGE)
                    .and_then(|r| r.rsplit('/').next().and_then(|t| t.parse().ok()))
                    .unwrap_or(from);
                return Ok(Object::empty(total, etag.map(str::to_owned)));
            }
            status => {
                return Err(ReadError::Unavailable(format!("S3 answered {status}")));
            }
        }
        let partial = response.status() == StatusCode::PARTIAL_CONTENT;
        let length: Option<u64> = header(CONTENT_LENGTH).and_then(|l| l.parse().ok());
        let total = match header(CONTENT_RANGE) {
            Some(range) if partial => range.rsplit('/').next().and_then(|t| t.parse().ok()),
            _ => length,
        }
        .ok_or_else(|| ReadError::Unavailable("no object size in S3's answer".into()))?;
        // A 200 to a range request is the whole object: skip to `from` ourselves.
        let skip = if partial { 0 } else { from };
        Ok(Object {
            total,
            etag: header(ETAG),
            response: Some(response),
            buffer: Vec::new(),
            start: 0,
            skip,
        })
    }
}

/// An open upload, read line by line.
#[derive(Debug)]
pub struct Object {
    /// The object's size in bytes.
    pub total: u64,
    pub etag: Option<String>,
    response: Option<reqwest::Response>,
    buffer: Vec<u8>,
    start: usize,
    skip: u64,
}

/// One line: its bytes without the line end, and how many bytes it took with it.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub text: Vec<u8>,
    pub consumed: u64,
    /// Longer than the reader's limit: `text` is cut there (the rest was skipped).
    pub too_long: bool,
}

impl Line {
    /// A line of `bytes` (without its `\n`; a `\r` before it goes too) that took `consumed`
    /// bytes of the object, `dropped` of them skipped past the limit: cut at `max`.
    fn cut(bytes: &[u8], consumed: u64, dropped: u64, max: usize) -> Self {
        let text = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        Self {
            too_long: dropped > 0 || text.len() > max,
            text: text[..text.len().min(max)].to_vec(),
            consumed,
        }
    }
}

impl Object {
    fn empty(total: u64, etag: Option<String>) -> Self {
        Self {
            total,
            etag,
            response: None,
            buffer: Vec::new(),
            start: 0,
            skip: 0,
        }
    }

    async fn fill(&mut self) -> Result<bool, ReadError> {
        let Some(response) = self.response.as_mut() else {
            return Ok(false);
        };
        loop {
            let Some(bytes) = response
                .chunk()
                .await
                .map_err(|e| ReadError::Unavailable(e.to_string()))?
            else {
                self.response = None;
                return Ok(false);
            };
            let mut bytes = &bytes[..];
            if self.skip > 0 {
                let n = (self.skip as usize).min(bytes.len());
                self.skip -= n as u64;
                bytes = &bytes[n..];
            }
            if !bytes.is_empty() {
                if self.start > 0 {
                    self.buffer.drain(..self.start);
                    self.start = 0;
                }
                self.buffer.extend_from_slice(bytes);
                return Ok(true);
            }
        }
    }

    /// The next line (`\n` ends it, a `\r` before it is dropped), at most `max` bytes kept;
    /// `None` at the end of the object.
    pub async fn next_line(&mut self, max: usize) -> Result<Option<Line>, ReadError> {
        let mut scanned = 0;
        let mut dropped = 0u64;
        loop {
            let pending = &self.buffer[self.start..];
            if let Some(at) = pending[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + at;
                let line = Line::cut(&pending[..end], dropped + end as u64 + 1, dropped, max);
                self.start += end + 1;
                return Ok(Some(line));
            }
            scanned = pending.len();
            // A line past the limit: keep its start, drop the rest as it arrives.
            if scanned > max {
                let cut = self.start + max;
                dropped += (self.buffer.len() - cut) as u64;
                self.buffer.truncate(cut);
                scanned = max;
            }
            if !self.fill().await? {
                let pending = &self.buffer[self.start..];
                if pending.is_empty() {
                    return Ok(None);
                }
                let line = Line::cut(pending, dropped + pending.len() as u64, dropped, max);
                self.start = self.buffer.len();
                return Ok(Some(line));
            }
        }
    }
}
