//! Request bodies to parameters: each codec a profile can name turns bytes (and the request's
//! charset) into the same case-insensitive [`Params`] the grant fields are read from. A codec
//! is compiled once per route into a [`BodyReader`], so the XML codec carries its contract and
//! a profile that names the codec without one is refused when it is compiled, not per request.

use std::collections::HashMap;

use super::form::{self, Params};
use super::profile::{Codec, ParamKey, RequestFields, RequestSpec, XmlMemberOrder};
use super::xml;
use crate::wire::Refusal;

/// Elements deeper than this in an XML body are refused (a TokenRequest is two levels deep).
const XML_MAX_DEPTH: usize = 32;

/// The three shapes a body can have; each has the parameter names of its own
/// (`request.fields`, then `request.json_fields` or `request.xml_fields` over them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// A form (and no body at all).
    Form,
    /// JSON.
    Json,
    /// XML.
    Xml,
}

/// A body codec, ready to read.
#[derive(Debug, Clone)]
pub enum BodyReader {
    /// Katana's form rules.
    KatanaForm,
    /// A JSON object.
    Json,
    /// A JSON string literal, as the parameter named here (its JSON wire name).
    JsonString(String),
    /// DataContract or XmlSerializer XML, by its contract.
    Xml(XmlRequest),
    /// One DataContract `<string>`, as the parameter named here (its XML wire name).
    DataContractString(String),
    /// Reads nothing.
    Ignore,
}

/// The request contract of the XML codecs, as compiled.
#[derive(Debug, Clone)]
pub struct XmlRequest {
    root: String,
    namespace: String,
    /// The member names in DataContract (ordinal) order.
    members: Vec<String>,
    order: xml::MemberOrder,
}

impl BodyReader {
    /// The reader for `codec` on a route whose request is `spec`, with the parameter names of
    /// JSON bodies (`json`) and XML bodies (`xml`); `Err` says what is missing.
    pub fn compile(
        codec: Codec,
        spec: &RequestSpec,
        json: &RequestFields,
        xml: &RequestFields,
    ) -> Result<Self, String> {
        let string_field = |names: &RequestFields| {
            let field = spec.string_field.as_deref().ok_or_else(|| {
                format!(
                    "the {} codec needs request.string_field: the parameter the string is",
                    codec.as_str()
                )
            })?;
            let Some(key) = ParamKey::parse(field) else {
                return Err(format!(
                    "request.string_field: {field:?} is not a parameter; known: {}",
                    ParamKey::known()
                ));
            };
            names.wire_name(key).map(str::to_owned).ok_or_else(|| {
                format!(
                    "request.string_field: {field:?} has no wire name (request.fields.{field} \
                     is not set)"
                )
            })
        };
        Ok(match codec {
            Codec::KatanaForm => BodyReader::KatanaForm,
            Codec::Json => BodyReader::Json,
            Codec::Ignore => BodyReader::Ignore,
            Codec::JsonString => BodyReader::JsonString(string_field(json)?),
            Codec::DatacontractString => BodyReader::DataContractString(string_field(xml)?),
            Codec::DatacontractXml | Codec::XmlSerializer => {
                let Some(contract) = &spec.xml else {
                    return Err(format!(
                        "the {} codec needs request.xml (its root and namespace)",
                        codec.as_str()
                    ));
                };
                let order = match (codec, contract.member_order) {
                    (Codec::DatacontractXml, XmlMemberOrder::DataContract) => {
                        xml::MemberOrder::DataContract
                    }
                    // XmlSerializer reads members in any order.
                    _ => xml::MemberOrder::AnyOrder,
                };
                let mut members = xml.names();
                members.sort();
                BodyReader::Xml(XmlRequest {
                    root: contract.root.clone(),
                    namespace: contract.namespace.clone(),
                    members,
                    order,
                })
            }
        })
    }

    /// Which parameter names the body is read with.
    pub fn format(&self) -> BodyFormat {
        match self {
            BodyReader::KatanaForm | BodyReader::Ignore => BodyFormat::Form,
            BodyReader::Json | BodyReader::JsonString(_) => BodyFormat::Json,
            BodyReader::Xml(_) | BodyReader::DataContractString(_) => BodyFormat::Xml,
        }
    }

    /// Reads a non-empty body.
    pub fn read(
        &self,
        body: &[u8],
        charset: Option<&str>,
        max_params: usize,
    ) -> Result<Params, Refusal> {
        let limits = xml::XmlLimits {
            max_depth: XML_MAX_DEPTH,
            max_members: max_params,
        };
        match self {
            BodyReader::KatanaForm => form::parse(body, max_params).map_err(Refusal::malformed),
            BodyReader::Ignore => Ok(Params::default()),
            BodyReader::Json => json(body, charset, max_params),
            BodyReader::JsonString(name) => {
                let text = xml::decode_text(body, charset).map_err(Refusal::malformed)?;
                let value: Option<String> = serde_json::from_str(&text)
                    .map_err(|e| Refusal::malformed(JsonBodyError::NotString(e)))?;
                Ok(Params::single(name, value))
            }
            BodyReader::DataContractString(name) => {
                let text = xml::decode_text(body, charset).map_err(Refusal::malformed)?;
                let value = xml::read_primitive(
                    text.as_bytes(),
                    "string",
                    xml::SERIALIZATION_NAMESPACE,
                    &limits,
                )
                .map_err(Refusal::malformed)?;
                Ok(Params::single(name, value))
            }
            BodyReader::Xml(contract) => {
                let members: Vec<&str> = contract.members.iter().map(String::as_str).collect();
                let contract_ref = xml::XmlContract {
                    root: &contract.root,
                    namespace: &contract.namespace,
                    members: &members,
                };
                let text = xml::decode_text(body, charset).map_err(Refusal::malformed)?;
                let pairs =
                    xml::read_members(text.as_bytes(), &contract_ref, contract.order, &limits)
                        .map_err(Refusal::malformed)?;
                // A nil member is an absent one.
                Ok(Params::from_pairs(
                    pairs
                        .into_iter()
                        .filter_map(|(name, value)| Some((name, value?)))
                        .collect(),
                ))
            }
        }
    }
}

/// Why a JSON body does not bind to the request model.
#[derive(Debug, thiserror::Error)]
pub enum JsonBodyError {
    #[error("not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("the JSON body must be an object")]
    NotObject,
    #[error("too many properties (the limit is {0})")]
    TooMany(usize),
    #[error("property {0:?} must be a string")]
    Nested(String),
    #[error("the body must be one JSON string: {0}")]
    NotString(#[source] serde_json::Error),
}

/// A JSON object as Json.NET binds it to a model: property names case-insensitive, unknown
/// properties ignored, `null` absent, numbers and booleans read as their text, and of a repeated
/// property the last. Read straight into name/value pairs, without building a `serde_json::Value`
/// tree first (half the instructions of a Swagger JSON body's parse).
fn json(body: &[u8], charset: Option<&str>, max_params: usize) -> Result<Params, Refusal> {
    let text = xml::decode_text(body, charset).map_err(Refusal::malformed)?;
    let mut reader = serde_json::Deserializer::from_str(&text);
    let object = serde::de::DeserializeSeed::deserialize(JsonBodySeed { max_params }, &mut reader)
        .and_then(|object| reader.end().map(|()| object))
        .map_err(|e| Refusal::malformed(JsonBodyError::Syntax(e)))?;
    let mut members = match object {
        JsonBody::Object(members) => members,
        JsonBody::NotObject => return Err(Refusal::malformed(JsonBodyError::NotObject)),
        JsonBody::TooMany => return Err(Refusal::malformed(JsonBodyError::TooMany(max_params))),
    };
    // Reported in name order, as a walk over the parsed object (a sorted map) would find them.
    members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut pairs = Vec::with_capacity(members.len());
    for (name, value) in members {
        match value {
            JsonScalar::Null => {}
            JsonScalar::Text(text) => pairs.push((name, text)),
            JsonScalar::Nested => return Err(Refusal::malformed(JsonBodyError::Nested(name))),
        }
    }
    Ok(Params::from_pairs(pairs))
}

/// A request body as JSON: an object's members (each name once, its last value), an object
/// with more distinct names than allowed, or not an object.
enum JsonBody {
    Object(Vec<(String, JsonScalar)>),
    TooMany,
    NotObject,
}

/// Reads a [`JsonBody`], keeping at most `max_params` distinct names; a repeated name is found
/// by hash, so a body's cost stays linear in its size whatever `max_params` a route raises it
/// to. The rest of the body is still read, so a syntax error later in it is reported as one.
struct JsonBodySeed {
    max_params: usize,
}

/// A member's value: its text, null, or an array or object (which no grant field can be).
enum JsonScalar {
    Text(String),
    Null,
    Nested,
}

impl<'de> serde::de::DeserializeSeed<'de> for JsonBodySeed {
    type Value = JsonBody;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<JsonBody, D::Error> {
        struct Body {
            max_params: usize,
        }
        impl<'de> serde::de::Visitor<'de> for Body {
            type Value = JsonBody;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonBody, A::Error> {
                // SipHash with per-process keys: names chosen to collide cost a client nothing
                // extra to send and the gateway nothing extra to read.
                let mut members: HashMap<String, JsonScalar> = HashMap::new();
                let mut too_many = false;
                while let Some(name) = map.next_key::<String>()? {
                    let value = map.next_value::<JsonScalar>()?;
                    if too_many {
                        continue;
                    }
                    if let Some(known) = members.get_mut(&name) {
                        *known = value;
                    } else if members.len() == self.max_params {
                        too_many = true;
                    } else {
                        members.insert(name, value);
                    }
                }
                Ok(if too_many {
                    JsonBody::TooMany
                } else {
                    JsonBody::Object(members.into_iter().collect())
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonBody, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonBody::NotObject)
            }
            fn visit_bool<E>(self, _: bool) -> Result<JsonBody, E> {
                Ok(JsonBody::NotObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<JsonBody, E> {
                Ok(JsonBody::NotObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<JsonBody, E> {
                Ok(JsonBody::NotObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<JsonBody, E> {
                Ok(JsonBody::NotObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<JsonBody, E> {
                Ok(JsonBody::NotObject)
            }
            fn visit_unit<E>(self) -> Result<JsonBody, E> {
                Ok(JsonBody::NotObject)
            }
        }
        deserializer.deserialize_any(Body {
            max_params: self.max_params,
        })
    }
}

impl<'de> serde::Deserialize<'de> for JsonScalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl<'de> serde::de::Visitor<'de> for Scalar {
            type Value = JsonScalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, text: &str) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Text(text.to_owned()))
            }
            fn visit_string<E>(self, text: String) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Text(text))
            }
            fn visit_bool<E>(self, value: bool) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Text(value.to_string()))
            }
            fn visit_i64<E>(self, value: i64) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Text(value.to_string()))
            }
            fn visit_u64<E>(self, value: u64) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Text(value.to_string()))
            }
            fn visit_f64<E>(self, value: f64) -> Result<JsonScalar, E> {
                // The text serde_json gives a parsed number (JSON has no NaN or infinity).
                Ok(JsonScalar::Text(
                    serde_json::Number::from_f64(value).map_or_else(String::new, |n| n.to_string()),
                ))
            }
            fn visit_unit<E>(self) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonScalar, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonScalar::Nested)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonScalar, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(JsonScalar::Nested)
            }
        }
        deserializer.deserialize_any(Scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_case_insensitive_and_scalars_become_text() {
        let params = json(
            br#"{"Grant_Type":"password","client_id":7,"x":null,"WindowsAuthentication":true}"#,
            None,
            10,
        )
        .expect("parses");
        assert_eq!(params.get("grant_type", false).as_deref(), Some("password"));
        assert_eq!(params.get("client_id", false).as_deref(), Some("7"));
        assert_eq!(
            params.get("windowsauthentication", false).as_deref(),
            Some("true")
        );
        assert!(params.get("x", false).is_none());
    }

    /// What the parse through a `serde_json::Value` (the previous implementation) gave.
    fn through_value(body: &str, max_params: usize) -> Result<Vec<(String, String)>, String> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| format!("not valid JSON: {e}"))?;
        let serde_json::Value::Object(object) = value else {
            return Err("the JSON body must be an object".into());
        };
        if object.len() > max_params {
            return Err(format!("too many properties (the limit is {max_params})"));
        }
        let mut pairs = Vec::new();
        for (name, value) in object {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return Err(format!("property {name:?} must be a string")),
            };
            pairs.push((name, text));
        }
        Ok(pairs)
    }

    #[test]
    fn json_reads_as_the_value_tree_did() {
        let bodies = [
            r#"{"grant_type":"client_credentials","client_id":"demo-client"}"#,
            r#"{"b":"2","a":"1","b":"3"}"#,
            r#"{"a":{"x":1},"a":"flat"}"#,
            r#"{"z":[1],"y":{"k":null},"x":"1"}"#,
            r#"{"n":-7,"u":18446744073709551615,"f":1.5e3,"g":0.1,"t":true,"x":null}"#,
            r#"{"esc":"a\"b\u00e9\n"}"#,
            r#"{"a":"1","b":"2","c":"3"}"#,
            r#"{"a":"1","a":"2","a":"3"}"#,
            "[1,2]",
            "\"text\"",
            "12",
            "null",
            "{}",
            r#"{"a":"#,
            r#"{"a":"1",}"#,
        ];
        for body in bodies {
            let ours = json(body.as_bytes(), None, 2)
                .map(|params| params.pairs().to_vec())
                .map_err(|e| match e {
                    Refusal::MalformedBody(why) => why.to_string(),
                    other => format!("{other:?}"),
                });
            assert_eq!(ours, through_value(body, 2), "body {body}");
        }
    }

    #[test]
    fn json_with_many_distinct_names_stops_keeping_them_at_the_limit() {
        let many: Vec<String> = (0..5000).map(|i| format!("\"p{i}\":\"v\"")).collect();
        let body = format!("{{{}}}", many.join(","));
        assert!(matches!(
            json(body.as_bytes(), None, 100),
            Err(Refusal::MalformedBody(why)) if why.to_string() == "too many properties (the limit is 100)"
        ));
        // A syntax error after the limit is still reported as one.
        let broken = format!("{{{},}}", many.join(","));
        assert!(matches!(
            json(broken.as_bytes(), None, 100),
            Err(Refusal::MalformedBody(why)) if why.to_string().starts_with("not valid JSON")
        ));
    }

    #[test]
    fn json_that_is_not_an_object_is_refused_with_a_reason() {
        assert!(json(b"[1]", None, 10).is_err());
        assert!(json(b"{\"a\":", None, 10).is_err());
        assert!(json(br#"{"a":{"b":1}}"#, None, 10).is_err());
    }
}
