//! One line of an uploaded CSV list: RFC 4180 fields (`"` quotes a field, `""` is a quote in
//! it), one record per line (a quoted field cannot hold a line break).

/// The fields of `line`, or what is wrong with it.
pub fn fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed on its line"),
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => out.push(field),
                Some(_) => return Err("text after a quoted field"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            out.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_plain_and_quoted() {
        assert_eq!(
            fields("+447911123456,Ann").unwrap(),
            ["+447911123456", "Ann"]
        );
        assert_eq!(
            fields(r#""+44 7911 123456","Ann, ""the"" first",,x"#).unwrap(),
            ["+44 7911 123456", r#"Ann, "the" first"#, "", "x"]
        );
        assert_eq!(fields("").unwrap(), [""]);
        assert_eq!(fields("a,").unwrap(), ["a", ""]);
        assert!(fields(r#""open"#).is_err());
        assert!(fields(r#""a"b"#).is_err());
        assert!(fields(r#"a"b"#).is_err());
    }
}
