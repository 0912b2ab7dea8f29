//! Test support for the security checks that span every function: a log capture with the
//! production JSON format ([`capture`]), a local HTTP endpoint that echoes what it is sent
//! ([`echo`]), and one poll of an SQS queue as Lambda's event source would hand it ([`queue`]).

pub mod capture;
pub mod echo;
pub mod queue;
