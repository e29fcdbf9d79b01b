//! The contracts and bodies that the reader's and the writer's tests share, so that both
//! directions are checked against one capture: the bodies are the bytes Mono's
//! `DataContractSerializer` wrote (`.ci/clients/dotnet/REFERENCE.md`), plus the sample that
//! Web API's help page shows for `TokenRequest`.

use super::{XmlContract, XmlLimits};

pub(super) const NS: &str = "http://schemas.datacontract.org/2004/07/IO.Swagger.Models";
pub(super) const TOKEN_REQUEST: XmlContract<'static> = XmlContract {
    root: "TokenRequest",
    namespace: NS,
    members: &[
        "WindowsAuthentication",
        "client_id",
        "client_secret",
        "grant_type",
        "password",
        "refresh_token",
        "scope",
        "username",
    ],
};
pub(super) const ACCESS_TOKEN_RESPONSE: XmlContract<'static> = XmlContract {
    root: "AccessTokenResponse",
    namespace: NS,
    members: &[
        "access_token",
        "expires_in",
        "ip",
        "is_editor",
        "not_before_policy",
        "redirect_url",
        "refresh_expires_in",
        "refresh_token",
        "scope",
        "session_state",
        "token_type",
    ],
};
pub(super) const LIMITS: XmlLimits = XmlLimits {
    max_depth: 32,
    max_members: 64,
};

pub(super) const PASSWORD_REQUEST: &str = r#"<TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><WindowsAuthentication i:nil="true"/><client_id>demo-client</client_id><client_secret i:nil="true"/><grant_type>password</grant_type><password>P@ssw0rd!</password><refresh_token i:nil="true"/><scope i:nil="true"/><username>user@example.com</username></TokenRequest>"#;
pub(super) const CLIENT_CREDENTIALS_REQUEST: &str = r#"<TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><WindowsAuthentication i:nil="true"/><client_id>demo-confidential</client_id><client_secret>demo-secret</client_secret><grant_type>client_credentials</grant_type><password i:nil="true"/><refresh_token i:nil="true"/><scope i:nil="true"/><username i:nil="true"/></TokenRequest>"#;
pub(super) const REFRESH_REQUEST: &str = r#"<TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><WindowsAuthentication i:nil="true"/><client_id>demo-client</client_id><client_secret i:nil="true"/><grant_type>refresh_token</grant_type><password i:nil="true"/><refresh_token>r</refresh_token><scope i:nil="true"/><username i:nil="true"/></TokenRequest>"#;
pub(super) const HELP_PAGE_SAMPLE: &str = r#"<TokenRequest xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models"> <WindowsAuthentication>true</WindowsAuthentication> <client_id>sample string 2</client_id> <client_secret>sample string 3</client_secret> <grant_type>sample string 7</grant_type> <password>sample string 6</password> <refresh_token>sample string 8</refresh_token> <scope>sample string 4</scope> <username>sample string 5</username> </TokenRequest>"#;
pub(super) const ACCESS_TOKEN_RESPONSE_BYTES: &str = r#"<AccessTokenResponse xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><access_token>a</access_token><expires_in>1799</expires_in><ip>127.0.0.1</ip><is_editor>true</is_editor><not_before_policy>0</not_before_policy><redirect_url i:nil="true"/><refresh_expires_in>1209600</refresh_expires_in><refresh_token>r</refresh_token><scope>s</scope><session_state>x</session_state><token_type>bearer</token_type></AccessTokenResponse>"#;

pub(super) type Members = Vec<(String, Option<String>)>;

pub(super) fn members(pairs: &[(&str, Option<&str>)]) -> Members {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.map(str::to_string)))
        .collect()
}

/// `text` as a UTF-16 client would send it, with or without a BOM.
pub(super) fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    if bom {
        bytes.extend_from_slice(if big_endian {
            &[0xFE, 0xFF]
        } else {
            &[0xFF, 0xFE]
        });
    }
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    bytes
}

/// The sizes `REFERENCE.md` gives, so a pasted sample cannot drift from the capture.
#[test]
fn reference_samples_have_the_documented_sizes() {
    assert_eq!(PASSWORD_REQUEST.len(), 397);
    assert_eq!(CLIENT_CREDENTIALS_REQUEST.len(), 407);
    assert_eq!(REFRESH_REQUEST.len(), 386);
    assert_eq!(ACCESS_TOKEN_RESPONSE_BYTES.len(), 492);
}
