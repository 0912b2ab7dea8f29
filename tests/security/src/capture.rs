//! The functions' JSON logs, captured in memory: [`LogCapture::install`] makes the production
//! subscriber ([`vbm_platform::telemetry::subscriber`]) the process's global one, writing here.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_subscriber::fmt::MakeWriter;

/// Every log line written since [`LogCapture::install`].
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the capture as the global subscriber, filtered as the functions are with this
    /// `RUST_LOG` (the template's `LogLevel`). Once per process: a test binary that captures
    /// has this one test.
    pub fn install(rust_log: &str) -> Self {
        let capture = Self::default();
        tracing::subscriber::set_global_default(vbm_platform::telemetry::subscriber(
            vbm_platform::telemetry::filter(Some(rust_log)),
            capture.clone(),
        ))
        .expect("no other global subscriber in this test binary");
        capture
    }

    /// How many bytes have been written so far (a mark for [`LogCapture::since`]).
    pub fn len(&self) -> usize {
        self.buffer().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lines written after `mark`.
    pub fn since(&self, mark: usize) -> String {
        String::from_utf8_lossy(&self.buffer()[mark..]).into_owned()
    }

    fn buffer(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves whole lines behind: still readable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The log lines that contain any of `secrets` (name, value), compared case-insensitively (hex
/// is hex in either case), as `(name, line)`.
pub fn leaks<'a>(logs: &'a str, secrets: &[(&'a str, &str)]) -> Vec<(&'a str, &'a str)> {
    let secrets: Vec<(&str, String)> = secrets
        .iter()
        .map(|(name, value)| (*name, value.to_ascii_lowercase()))
        .collect();
    let mut found = Vec::new();
    for line in logs.lines() {
        let lower = line.to_ascii_lowercase();
        for (name, value) in &secrets {
            if lower.contains(value.as_str()) {
                found.push((*name, line));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaks_finds_secrets_in_either_case() {
        let logs = "{\"a\":\"ABCDEF01\"}\n{\"b\":\"nothing\"}\n{\"c\":\"xx-abcdef01-yy\"}\n";
        let found = leaks(logs, &[("key", "abcdef01"), ("other", "zzz")]);
        assert_eq!(
            found,
            vec![
                ("key", "{\"a\":\"ABCDEF01\"}"),
                ("key", "{\"c\":\"xx-abcdef01-yy\"}")
            ]
        );
        assert!(leaks(logs, &[("other", "zzz")]).is_empty());
    }
}
