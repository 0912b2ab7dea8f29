//! Input checks. Everything an operator types is checked here before anything is written;
//! the domain types' own parsers (store, session-rules) are the authority where they exist.

use std::net::IpAddr;

use ipnet::IpNet;
use session_rules::callback_address::{CallbackAddresses, check_callback_url};
use session_rules::{HttpsUrl, Language, Refusal, TemplateCategory, TemplateId, TemplateReach};
use vbm_store::BusinessId;

/// Longest callback URL accepted (the limit session-rules puts on URLs).
const MAX_URL_BYTES: usize = 2048;

/// The reason alone: clap already names the argument.
fn reason(refusal: Refusal) -> String {
    match refusal {
        Refusal::ValidationFailed { reason, .. } => reason,
        other => other.to_string(),
    }
}

pub fn business_id(input: &str) -> Result<BusinessId, String> {
    BusinessId::parse(input)
}

/// A service kind as `--kind` / `--service-kind` take it.
pub fn service_kind(input: &str) -> Result<session_rules::ServiceKind, String> {
    session_rules::ServiceKind::parse(input)
        .ok_or_else(|| format!("invalid service kind {input:?}: one_way, two_way or session"))
}

pub fn currency(input: &str) -> Result<session_rules::prices::Currency, String> {
    session_rules::prices::Currency::parse(input).map_err(|e| e.to_string())
}

pub fn price(input: &str) -> Result<session_rules::prices::Amount, String> {
    session_rules::prices::Amount::parse_price(input).map_err(|e| e.to_string())
}

/// `promotional=0.035`: a billing category and its price.
pub fn category_price(
    input: &str,
) -> Result<
    (
        session_rules::BillingCategory,
        session_rules::prices::Amount,
    ),
    String,
> {
    let (name, value) = input
        .split_once('=')
        .ok_or_else(|| format!("{input:?}: CATEGORY=PRICE, e.g. promotional=0.035"))?;
    let category = session_rules::BillingCategory::parse(name).ok_or_else(|| {
        format!(
            "invalid billing category {name:?}: transactional_template, otp, promotional or \
             session"
        )
    })?;
    Ok((category, price(value)?))
}

/// `DACH=DE,AT,CH`: a country group's name and its countries (case does not matter), with no
/// price yet. The name is checked with the table (`PriceTable::add_group`).
pub fn country_group(input: &str) -> Result<session_rules::prices::CountryGroup, String> {
    let (name, countries) = input
        .split_once('=')
        .ok_or_else(|| format!("{input:?}: NAME=CC,CC, e.g. DACH=DE,AT,CH"))?;
    let countries = countries
        .split(',')
        .map(|c| {
            session_rules::Country::parse(&c.trim().to_ascii_uppercase())
                .ok_or_else(|| session_rules::prices::PriceError::Country(c.to_owned()).to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(session_rules::prices::CountryGroup::new(name, countries))
}

/// A billing category and its price.
pub type CategoryPrice = (
    session_rules::BillingCategory,
    session_rules::prices::Amount,
);

/// `DACH:promotional=0.04`: a group's name, a billing category and its price there.
pub fn group_category_price(input: &str) -> Result<(String, CategoryPrice), String> {
    let (name, price) = input
        .split_once(':')
        .ok_or_else(|| format!("{input:?}: NAME:CATEGORY=PRICE, e.g. DACH:promotional=0.04"))?;
    Ok((name.to_owned(), category_price(price)?))
}

/// `DACH=0.07`: a group's name and a price.
pub fn group_price(input: &str) -> Result<(String, session_rules::prices::Amount), String> {
    let (name, value) = input
        .split_once('=')
        .ok_or_else(|| format!("{input:?}: NAME=PRICE, e.g. DACH=0.07"))?;
    Ok((name.to_owned(), price(value)?))
}

/// What a cap counts: a billing category or `campaign_recipients`.
pub fn cap_subject(input: &str) -> Result<session_rules::caps::CapSubject, String> {
    session_rules::caps::CapSubject::parse(input).ok_or_else(|| {
        format!(
            "invalid cap subject {input:?}: transactional_template, otp, promotional, session \
             or campaign_recipients"
        )
    })
}

pub fn service_id(input: &str) -> Result<u64, String> {
    match input.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "service id {input:?} must be a positive integer (Viber's service id)"
        )),
    }
}

/// A CIDR such as `203.0.113.0/24` or `2001:db8::/32`; a bare address means that host alone.
pub fn cidr(input: &str) -> Result<IpNet, String> {
    input
        .parse::<IpNet>()
        .or_else(|_| input.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!(
                "{input:?} is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32, nor an IP address"
            )
        })
}

/// DynamoDB's table-name rule: 3 to 255 of `A-Z a-z 0-9 _ - .`.
pub fn table_name(input: &str) -> Result<String, String> {
    let ok = (3..=255).contains(&input.len())
        && input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(input.to_owned())
    } else {
        Err(format!(
            "table name {input:?}: 3 to 255 of A-Z, a-z, 0-9, '_', '-' and '.'"
        ))
    }
}

pub fn template_id(input: &str) -> Result<TemplateId, String> {
    TemplateId::parse(input).map_err(reason)
}

pub fn language(input: &str) -> Result<Language, String> {
    Language::parse(input).map_err(reason)
}

pub fn category(input: &str) -> Result<TemplateCategory, String> {
    TemplateCategory::parse(input).map_err(reason)
}

pub fn reach(input: &str) -> Result<TemplateReach, String> {
    TemplateReach::parse(input).map_err(reason)
}

/// A callback URL: `https://` with a host, no credentials, no whitespace or control characters
/// (the URL ends up in HTTP requests: no header injection), and a host that is not an internal
/// address in any spelling (`session_rules::callback_address`: loopback, private, link-local,
/// ...). In local mode also plain `http://` to this machine (127.0.0.1, localhost or [::1],
/// any port), and the loopback over https.
pub fn callback_url(input: &str, local: bool) -> Result<String, String> {
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "callback URL {input:?} must not contain spaces, CR, LF or other control characters"
        ));
    }
    if input.len() > MAX_URL_BYTES {
        return Err(format!("callback URL longer than {MAX_URL_BYTES} bytes"));
    }
    if local && is_loopback_http(input) {
        return Ok(input.to_owned());
    }
    match HttpsUrl::parse("callback_url", input) {
        Ok(url) => {
            // Read as notify's HTTP client reads it: `https://0x7f.1/` is the loopback.
            let allowed = if local {
                CallbackAddresses::AlsoLoopback
            } else {
                CallbackAddresses::PublicOnly
            };
            check_callback_url(url.as_str(), allowed)
                .map_err(|why| format!("callback URL {input:?}: {why}"))?;
            Ok(url.as_str().to_owned())
        }
        Err(refusal) => {
            let hint = if local {
                " (local mode also allows http://127.0.0.1, http://localhost and http://[::1])"
            } else if input.to_ascii_lowercase().starts_with("http://") {
                " (plain http:// to this machine only in local mode: --local or VBM_LOCAL=1)"
            } else {
                ""
            };
            Err(format!("callback URL {input:?}: {}{hint}", reason(refusal)))
        }
    }
}

/// `http://127.0.0.1[:port][/...]`, `http://localhost[:port][/...]` or `http://[::1][:port][/...]`;
/// nothing that merely starts with those (`localhost.example.com`, `127.0.0.1@evil`).
fn is_loopback_http(input: &str) -> bool {
    let Some(rest) = input.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix("[::1]") {
        Some(port) => ("[::1]", port),
        None => match authority.find(':') {
            Some(i) => authority.split_at(i),
            None => (authority, ""),
        },
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        });
    matches!(host, "127.0.0.1" | "localhost" | "[::1]") && port_ok
}

/// A key id as `key list` prints it: `key_` and 16 lowercase hex digits.
pub fn key_id(input: &str) -> Result<String, String> {
    let ok = input.strip_prefix("key_").is_some_and(|hex| {
        hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if ok {
        Ok(input.to_owned())
    } else {
        Err(format!(
            "invalid key id {input:?}: key_ and 16 hex digits, as `key list` prints"
        ))
    }
}

/// A duration: a positive number of seconds, optionally with a unit (`s`, `m`, `h`, `d`), at
/// most a year.
pub fn duration_secs(input: &str) -> Result<i64, String> {
    let (digits, unit) = match input.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&input[..i], c),
        _ => (input, 's'),
    };
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("invalid duration {input:?}: use s, m, h or d")),
    };
    let value: i64 = digits
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("invalid duration {input:?}: a positive number, e.g. 24h"))?;
    value
        .checked_mul(multiplier)
        .filter(|secs| *secs <= 366 * 86_400)
        .ok_or_else(|| format!("invalid duration {input:?}: at most a year"))
}

/// A time as unix seconds, after 2020 and before 2100.
pub fn unix_seconds(input: &str) -> Result<i64, String> {
    input
        .parse::<i64>()
        .ok()
        .filter(|t| (1_577_836_800..4_102_444_800).contains(t))
        .ok_or_else(|| format!("invalid time {input:?}: unix seconds, e.g. 1767225600"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_and_times() {
        assert_eq!(super::duration_secs("90"), Ok(90));
        assert_eq!(super::duration_secs("90s"), Ok(90));
        assert_eq!(super::duration_secs("30m"), Ok(1800));
        assert_eq!(super::duration_secs("24h"), Ok(86_400));
        assert_eq!(super::duration_secs("7d"), Ok(604_800));
        for bad in [
            "",
            "0",
            "-5m",
            "1w",
            "h",
            "400d",
            "1.5h",
            "99999999999999999999",
        ] {
            assert!(super::duration_secs(bad).is_err(), "{bad:?}");
        }
        assert_eq!(super::unix_seconds("1767225600"), Ok(1_767_225_600));
        for bad in ["0", "tomorrow", "99999999999"] {
            assert!(super::unix_seconds(bad).is_err(), "{bad:?}");
        }
        assert!(super::key_id("key_0123456789abcdef").is_ok());
        for bad in [
            "key_0123",
            "key_0123456789ABCDEF",
            "0123456789abcdef",
            "key_0123456789abcdeg",
        ] {
            assert!(super::key_id(bad).is_err(), "{bad:?}");
        }
    }

    use super::*;

    #[test]
    fn callback_urls() {
        for good in [
            "https://example.com/hook",
            "https://example.com:8443/a?b=c",
            "https://[2606:4700:4700::1111]/x",
            "https://8.8.8.8/",
        ] {
            assert_eq!(callback_url(good, false).as_deref(), Ok(good), "{good}");
            assert_eq!(callback_url(good, true).as_deref(), Ok(good), "{good}");
        }
        for local_only in [
            "http://127.0.0.1:9000/hook",
            "http://127.0.0.1",
            "http://localhost/hook",
            "http://localhost:8080",
            "http://[::1]:8080/x",
        ] {
            assert!(callback_url(local_only, false).is_err(), "{local_only}");
            assert_eq!(
                callback_url(local_only, true).as_deref(),
                Ok(local_only),
                "{local_only}"
            );
        }
        for bad in [
            "",
            "http://example.com/hook",
            "http://localhost.example.com/",
            "http://127.0.0.1@evil.example/",
            "http://127.0.0.1:/x",
            "http://127.0.0.1:99999/x",
            "http://127.0.0.1.evil.example/",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://example.com/\r\nX-Injected: 1",
            "https://example.com/\nX",
            "https://exa mple.com",
            "https://example.com/\t",
        ] {
            assert!(callback_url(bad, false).is_err(), "{bad:?}");
            assert!(callback_url(bad, true).is_err(), "{bad:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(callback_url(&long, false).is_err());
    }

    /// Internal addresses, in every spelling a WHATWG parser (notify's client) reads as one.
    #[test]
    fn internal_callback_hosts_are_refused_outside_local_mode() {
        for url in [
            "https://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1:8443/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433:22/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://10.0.0.1/",
            "https://[fd00:ec2::254]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2001:db8::1]/x",
            "https://localhost/",
        ] {
            let err = callback_url(url, false).unwrap_err();
            assert!(err.contains("public addresses only"), "{url}: {err}");
        }
        // Locally the loopback stays allowed (the dev stack's sink), nothing else internal.
        assert!(callback_url("https://127.0.0.1:8443/", true).is_ok());
        assert!(callback_url("https://[::ffff:127.0.0.1]/", true).is_ok());
        assert!(callback_url("https://10.0.0.1/", true).is_err());
        assert!(callback_url("https://169.254.169.254/", true).is_err());
    }

    #[test]
    fn refusals_are_one_line() {
        let err = callback_url("https://example.com/\r\nX-Injected: 1", false).unwrap_err();
        assert!(!err.contains('\n') && !err.contains('\r'), "{err}");
        assert!(err.contains("\\r\\n"), "the input is quoted escaped: {err}");
    }

    #[test]
    fn cidrs() {
        assert_eq!(cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(cidr("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(cidr("203.0.113.7").unwrap().to_string(), "203.0.113.7/32");
        assert_eq!(cidr("::1").unwrap().to_string(), "::1/128");
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "example.com",
            "10.0.0.0/8 ",
            "::/129",
        ] {
            assert!(cidr(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn service_ids() {
        assert_eq!(service_id("1"), Ok(1));
        assert_eq!(service_id("18446744073709551615"), Ok(u64::MAX));
        for bad in ["0", "-1", "", "1.5", "abc", "18446744073709551616", " 1"] {
            assert!(service_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn table_names() {
        assert!(table_name("vbm").is_ok());
        assert!(table_name("vbm-prod.v2_x").is_ok());
        for bad in ["", "ab", "a b", "vbm#", &"a".repeat(256)] {
            assert!(table_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn template_fields_use_session_rules() {
        assert!(template_id("order.shipped-v2").is_ok());
        assert!(template_id("a b").is_err());
        assert_eq!(language("EN").unwrap().as_str(), "en");
        assert!(language("eng").is_err());
        assert_eq!(
            category("transactional"),
            Ok(TemplateCategory::Transactional)
        );
        let refused = category("promotional").unwrap_err();
        assert!(refused.contains("no promotional templates"), "{refused}");
        assert!(category("Promotional").is_err());
        assert_eq!(reach("smartphones"), Ok(TemplateReach::Smartphones));
        assert_eq!(reach("all_devices"), Ok(TemplateReach::AllDevices));
        assert!(reach("desktop").is_err());
    }
}
