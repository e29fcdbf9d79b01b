//! Request bodies to parameters: each codec a profile can name turns bytes (and the request's
//! charset) into the same case-insensitive [`Params`] the grant fields are read from.

use super::form::{self, Params};
use super::profile::{Codec, RequestSpec, XmlMemberOrder};
use super::xml;
use crate::engine::GrantError;

/// Elements deeper than this in an XML body are refused (a TokenRequest is two levels deep).
const XML_MAX_DEPTH: usize = 32;

/// Reads a non-empty body with `codec`. `xml_members` are the request contract's member names
/// in DataContract order ([`member_names`], computed once per route).
pub fn read(
    codec: Codec,
    body: &[u8],
    charset: Option<&str>,
    spec: &RequestSpec,
    xml_members: &[&str],
) -> Result<Params, GrantError> {
    let malformed = |why: String| GrantError::MalformedBody(why);
    match codec {
        Codec::KatanaForm => {
            form::parse(body, spec.max_params).map_err(|e| malformed(e.to_string()))
        }
        Codec::Json => json(body, charset, spec.max_params),
        Codec::DatacontractXml => {
            let Some(contract) = &spec.xml else {
                return Err(GrantError::Internal(
                    "datacontract_xml codec without request.xml".into(),
                ));
            };
            let order = match contract.member_order {
                XmlMemberOrder::Any => xml::MemberOrder::AnyOrder,
                XmlMemberOrder::DataContract => xml::MemberOrder::DataContract,
            };
            let limits = xml::XmlLimits {
                max_depth: XML_MAX_DEPTH,
                max_members: spec.max_params,
            };
            let contract = xml::XmlContract {
                root: &contract.root,
                namespace: &contract.namespace,
                members: xml_members,
            };
            let text = xml::decode_text(body, charset).map_err(|e| malformed(e.to_string()))?;
            let pairs = xml::read_members(text.as_bytes(), &contract, order, &limits)
                .map_err(|e| malformed(e.to_string()))?;
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

/// The wire names of the request contract's members, in DataContract (ordinal) order.
pub fn member_names(spec: &RequestSpec) -> Vec<String> {
    let f = &spec.fields;
    let mut names: Vec<String> = [
        Some(&f.grant_type),
        Some(&f.client_id),
        Some(&f.client_secret),
        Some(&f.username),
        Some(&f.password),
        Some(&f.refresh_token),
        Some(&f.scope),
        f.windows_authentication.as_ref(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    names.sort();
    names
}

/// A JSON object as Json.NET binds it to a model: property names case-insensitive, unknown
/// properties ignored, `null` absent, numbers and booleans read as their text.
fn json(body: &[u8], charset: Option<&str>, max_params: usize) -> Result<Params, GrantError> {
    let malformed = |why: String| GrantError::MalformedBody(why);
    let text = xml::decode_text(body, charset).map_err(|e| malformed(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| malformed(format!("not valid JSON: {e}")))?;
    let serde_json::Value::Object(object) = value else {
        return Err(malformed("the JSON body must be an object".into()));
    };
    if object.len() > max_params {
        return Err(malformed(format!(
            "too many properties (the limit is {max_params})"
        )));
    }
    let mut pairs = Vec::with_capacity(object.len());
    for (name, value) in object {
        let text = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(malformed(format!("property {name:?} must be a string")));
            }
        };
        pairs.push((name, text));
    }
    Ok(Params::from_pairs(pairs))
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

    #[test]
    fn json_that_is_not_an_object_is_refused_with_a_reason() {
        assert!(json(b"[1]", None, 10).is_err());
        assert!(json(b"{\"a\":", None, 10).is_err());
        assert!(json(br#"{"a":{"b":1}}"#, None, 10).is_err());
    }
}
