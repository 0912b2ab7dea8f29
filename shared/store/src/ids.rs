//! Ids that are ULIDs (time-ordered, 26 characters): messages and campaigns. Parsing accepts
//! any spelling `ulid` reads and keeps the canonical one, so a key built from an id is one key.

macro_rules! ulid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(ulid::Ulid::new().to_string())
            }

            pub fn parse(input: &str) -> Option<Self> {
                ulid::Ulid::from_string(input)
                    .ok()
                    .map(|u| Self(u.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use ulid_id;
