//! Opaque ids: `[A-Za-z0-9_-]{1,64}`, as DESIGN §3 names them.

use serde::{Deserialize, Deserializer, Serialize, de};
use std::{fmt, str::FromStr, sync::Arc};

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// A validated id of a user, channel, DM thread or message. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(Arc<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ids are 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")]
pub struct InvalidId;

impl Id {
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let valid = !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Id(s.into()))
        } else {
            Err(InvalidId)
        }
    }

    /// A fresh time-ordered id (UUIDv7), for callers that give none.
    pub fn generate() -> Self {
        Id(uuid::Uuid::now_v7().to_string().into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the id is all digits: seed-000 clients see such ids as JSON numbers.
    pub fn is_numeric(&self) -> bool {
        self.0.bytes().all(|b| b.is_ascii_digit())
    }
}

impl FromStr for Id {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::parse(s)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Accepts a string or a non-negative integer (DESIGN §3: callers may use integer ids).
impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl de::Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id: a string of [A-Za-z0-9_-]{1,64} or a non-negative integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Id::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string().into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(InvalidId))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

/// In an API description: a string of the id alphabet, or (accepted in bodies) a
/// non-negative integer. Ids are always answered as strings.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Id {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!("^[A-Za-z0-9_-]{{1,{MAX_ID_LEN}}}$")));
        let number = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(u64::MAX as f64));
        OneOfBuilder::new()
            .item(text)
            .item(number)
            .description(Some(
                "an id: `[A-Za-z0-9_-]{1,64}`, or a non-negative integer",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Id {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(Id::parse("abc_DEF-123").is_ok());
        assert!(Id::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "a b", "a:b", "é", "a/b", &"a".repeat(65)] {
            assert_eq!(Id::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }

    #[test]
    fn deserializes_integers_and_strings() {
        let id: Id = serde_json::from_str("42").unwrap();
        assert_eq!(id.as_str(), "42");
        assert!(id.is_numeric());
        let id: Id = serde_json::from_str("\"u-1\"").unwrap();
        assert!(!id.is_numeric());
        assert!(serde_json::from_str::<Id>("-1").is_err());
        assert!(serde_json::from_str::<Id>("\"a b\"").is_err());
    }
}
