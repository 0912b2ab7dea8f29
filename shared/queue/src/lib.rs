//! SQS adapter (arrives with the send-path issue).
