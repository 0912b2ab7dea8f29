use crate::TimerError;

/// The queue a timer puts its body on: Scheduler needs its ARN, an immediate send its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: String,
    arn: String,
    group: Option<String>,
}

impl Target {
    /// From the queue's URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or the
    /// emulator's `http://127.0.0.1:<port>/<account>/<name>`): the ARN is derived from the last
    /// two path segments and the region.
    pub fn queue(url: &str, region: &str) -> Result<Self, TimerError> {
        let mut segments = url.trim_end_matches('/').rsplit('/');
        let (Some(name), Some(account)) = (segments.next(), segments.next()) else {
            return Err(TimerError::Invalid(format!("not a queue URL: {url}")));
        };
        if name.is_empty() || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TimerError::Invalid(format!("not a queue URL: {url}")));
        }
        Ok(Self {
            url: url.to_owned(),
            arn: format!("arn:{}:sqs:{region}:{account}:{name}", partition(region)),
            group: None,
        })
    }

    /// A FIFO queue's message group. (Scheduler gives FIFO targets no de-duplication id: such a
    /// queue needs `ContentBasedDeduplication`.)
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arn_comes_from_the_url_and_the_region() {
        let aws = Target::queue(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/vbm-timers",
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(aws.arn(), "arn:aws:sqs:eu-west-1:123456789012:vbm-timers");
        let local = Target::queue("http://127.0.0.1:5000/123456789012/q.fifo", "us-east-1")
            .unwrap()
            .with_group("g");
        assert_eq!(local.arn(), "arn:aws:sqs:us-east-1:123456789012:q.fifo");
        assert_eq!(local.group(), Some("g"));
        let china = Target::queue(
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
            "cn-north-1",
        );
        assert_eq!(
            china.unwrap().arn(),
            "arn:aws-cn:sqs:cn-north-1:123456789012:q"
        );
    }

    #[test]
    fn what_is_not_a_queue_url_is_refused() {
        for url in [
            "",
            "q",
            "https://sqs.amazonaws.com/q",
            "http://h/12345/q",
            "http://h/123456789012/",
        ] {
            assert!(Target::queue(url, "us-east-1").is_err(), "{url}");
        }
    }
}
