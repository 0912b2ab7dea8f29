//! How a command fails: refused input (exit 2, nothing written) or infrastructure (exit 1).

use std::fmt;
use std::process::ExitCode;

use vbm_store::StoreError;

#[derive(Debug)]
pub enum Failure {
    /// The operator's input was refused: bad value, unknown business, id already taken, ...
    Input(String),
    /// AWS could not be reached or answered with an error; the table is not as expected.
    Infra(String),
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Self {
        Self::Input(message.into())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Input(_) => ExitCode::from(2),
            Failure::Infra(_) => ExitCode::from(1),
        }
    }
}

impl fmt::Display for Failure {
    /// One line, whatever the message carries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            Failure::Input(m) | Failure::Infra(m) => m,
        };
        let mut first = true;
        for part in message.split(['\n', '\r']).filter(|p| !p.trim().is_empty()) {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(part.trim())?;
            first = false;
        }
        Ok(())
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            // A condition refused the write: the id exists, the business does not, ...
            StoreError::Conflict(message) => Failure::Input(message),
            other => Failure::Infra(without_debug_tail(&other.to_string()).to_owned()),
        }
    }
}

/// The SDK's errors read "<cause chain> (<Debug dump of the error>)": the chain says what went
/// wrong, the dump (headers, bodies, nested structs) only drowns it. Keeps the chain when the
/// dump is recognisable, the whole message otherwise.
fn without_debug_tail(message: &str) -> &str {
    if !message.ends_with(')') {
        return message;
    }
    let mut depth = 0usize;
    for (i, c) in message.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    let head = &message[..i];
                    let dump = &message[i + 1..];
                    // A Debug dump starts with a type name: `DispatchFailure(...`, `ServiceError {...`.
                    let looks_like_debug = dump.starts_with(|c: char| c.is_ascii_uppercase())
                        && dump.contains(['(', '{']);
                    return match head.strip_suffix(' ') {
                        Some(head) if looks_like_debug && !head.trim().is_empty() => head,
                        _ => message,
                    };
                }
            }
            _ => {}
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_debug_dumps_are_cut() {
        assert_eq!(
            without_debug_tail(
                "DynamoDB unavailable: dispatch failure: io error (DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io } }))"
            ),
            "DynamoDB unavailable: dispatch failure: io error"
        );
        assert_eq!(
            without_debug_tail(
                "DynamoDB unavailable: service error: unhandled error (ResourceNotFoundException): not found (ServiceError(ServiceError { source: ResourceNotFoundException(x) }))"
            ),
            "DynamoDB unavailable: service error: unhandled error (ResourceNotFoundException): not found"
        );
        for kept in [
            "plain",
            "a (b)",
            "(Dump(x))",
            "x (unbalanced))",
            "x (Dump(x)",
        ] {
            assert_eq!(without_debug_tail(kept), kept);
        }
    }

    #[test]
    fn messages_print_on_one_line() {
        let failure = Failure::Infra("first\r\n  second\n\nthird".into());
        assert_eq!(failure.to_string(), "first second third");
    }
}
