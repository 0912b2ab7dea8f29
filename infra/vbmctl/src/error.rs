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
            // The store words SDK errors from their error code and message (or cause chain).
            other => Failure::Infra(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_print_on_one_line() {
        let failure = Failure::Infra("first\r\n  second\n\nthird".into());
        assert_eq!(failure.to_string(), "first second third");
    }
}
