//! Katana access tickets: the bearer tokens the legacy `/Token` (the ASP.NET Web API 2
//! template's `OAuthAuthorizationServerMiddleware`) issued and its API's
//! `OAuthBearerAuthenticationMiddleware` reads. Issuing them keeps the legacy resource servers
//! working after the cut-over; reading them keeps tickets issued before it active.
//!
//! A ticket on the wire is Katana's `TicketDataFormat` (`aspnet/AspNetKatana`,
//! `src/Microsoft.Owin.Security/DataHandler/TicketDataFormat.cs` and `SecureDataFormat.cs`):
//! [`ticket`] serializes and gzips it, the host's data protector protects the bytes, and
//! `Base64UrlTextEncoder` writes them as base64url without padding. On IIS (Katana's
//! `Microsoft.Owin.Host.SystemWeb`) the protector is `MachineKeyDataProtector`, which is
//! `MachineKey.Protect` with the middleware's purposes: [`machine_key`]. The OAuth server and
//! the bearer middleware both ask `app.CreateDataProtector` for
//! `"Microsoft.Owin.Security.OAuth", "Access_Token", "v1"` (the middleware's namespace, then
//! the token kind and version); refresh tokens use `"Refresh_Token"` in the middle.
//!
//! Which claims and properties a ticket carries is [`access_ticket`]'s.

pub mod machine_key;
pub mod ticket;
#[cfg(test)]
mod vectors;

use base64::Engine as _;
use chrono::{DateTime, Utc};

pub use machine_key::{Decryption, MachineKey, MachineKeyError, Protector, Validation};
pub use ticket::{Claim, Identity, Ticket, TicketError};

use super::IdSource;

/// The purposes Katana's OAuth middlewares protect access tokens with.
pub const ACCESS_TOKEN_PURPOSES: [&str; 3] =
    ["Microsoft.Owin.Security.OAuth", "Access_Token", "v1"];

/// The purposes Katana's OAuth server protects refresh tickets with (`RefreshTokenFormat`),
/// which a legacy `RefreshTokenProvider` that called `SerializeTicket` issued.
pub const REFRESH_TOKEN_PURPOSES: [&str; 3] =
    ["Microsoft.Owin.Security.OAuth", "Refresh_Token", "v1"];

/// `OAuthDefaults.AuthenticationType`: the authentication type of the template's tickets.
pub const BEARER: &str = "Bearer";

/// Why a text is not a ticket of this key and purposes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not base64url")]
    Encoding,
    #[error(transparent)]
    Protection(#[from] machine_key::UnprotectError),
    #[error(transparent)]
    Ticket(#[from] TicketError),
}

/// `[katana]` as the engine uses it: the ticket format, and what issued tickets carry beyond
/// the template's claims.
#[derive(Debug)]
pub struct Katana {
    pub format: TicketFormat,
    /// The legacy server's refresh tickets (`[katana] refresh_purposes`), which routes with
    /// `legacy_refresh_tickets` redeem.
    pub refresh_format: TicketFormat,
    /// `[katana] claims`: a claim per (claim type, user attribute), for a user who has the
    /// attribute, after the template's claims, in claim-type order (the legacy application's
    /// `GenerateUserIdentityAsync` additions, or its `AspNetUserClaims` rows, which a database
    /// directory reads as attributes named by their claim type).
    pub attribute_claims: Vec<(String, String)>,
    /// `[katana] client_property`: the property naming the client (`as:client_id` in the
    /// widely copied refresh-token samples), first among the properties; `None`: no such
    /// property, as the template's tickets have none.
    pub client_property: Option<String>,
}

impl Katana {
    /// The client a ticket names: the `client_property` where configured, else `client_id` or
    /// `as:client_id` (the key the widely copied Katana refresh-token providers set); `None`
    /// for the template's tickets, which name none.
    pub fn client_of<'t>(&self, ticket: &'t Ticket) -> Option<&'t str> {
        match &self.client_property {
            Some(property) => ticket.property(property),
            None => ticket
                .property("client_id")
                .or_else(|| ticket.property("as:client_id")),
        }
    }
}

/// What an issued ticket carries beyond the template's: (claim type, value) claims after the
/// role claim, and a (property, client id) first among the properties.
#[derive(Debug, Default)]
pub struct Extra<'a> {
    pub claims: Vec<(&'a str, String)>,
    pub client: Option<(&'a str, &'a str)>,
}

/// `TicketDataFormat` over one machineKey protector: tickets to text and back.
#[derive(Debug)]
pub struct TicketFormat {
    purposes: Vec<String>,
    protector: Protector,
}

impl TicketFormat {
    pub fn new(machine_key: &MachineKey, purposes: Vec<String>) -> Self {
        let protector = machine_key.protector(&purposes);
        Self {
            purposes,
            protector,
        }
    }

    pub fn purposes(&self) -> &[String] {
        &self.purposes
    }

    /// The ticket as a bearer token; the IV is drawn from `ids`.
    pub fn protect(&self, ticket: &Ticket, ids: &dyn IdSource) -> String {
        let mut iv = [0u8; 16];
        let iv = &mut iv[..self.protector.iv_len()];
        ids.fill(iv);
        let protected = self.protector.protect(&ticket.serialize(), iv);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(protected)
    }

    /// The ticket `text` is and its expiry, while it is unexpired by the rule both Katana
    /// middlewares apply (`OAuthBearerAuthenticationHandler` and the refresh grant refuse a
    /// ticket once `ExpiresUtc < now`). A ticket without `.expires` is not the OAuth server's
    /// (it always sets one) and is not taken.
    pub fn read_live(&self, text: &str, now: DateTime<Utc>) -> Option<(Ticket, DateTime<Utc>)> {
        let ticket = self.unprotect(text).ok()?;
        let expires = ticket.expires()?;
        (expires >= now).then_some((ticket, expires))
    }

    /// A bearer token back to its ticket: decoded, its MAC checked, decrypted and read.
    pub fn unprotect(&self, text: &str) -> Result<Ticket, ReadError> {
        let protected = decode_base64url(text).ok_or(ReadError::Encoding)?;
        let compressed = self.protector.unprotect(&protected)?;
        Ok(Ticket::deserialize(&compressed)?)
    }
}

/// `Base64UrlTextEncoder.Decode`: base64url, padding optional.
fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

/// What a ticket says about its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketUser<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: Option<&'a str>,
}

/// The ticket the template's `ApplicationOAuthProvider` made for a password grant: the
/// identity ASP.NET Identity's `ClaimsIdentityFactory` makes (authentication type `Bearer`,
/// the default name and role claim types; the claims name identifier = user id, name,
/// identity provider, then the role), and the properties the provider's `CreateProperties`
/// set, which its `TokenEndpoint` copies into the answer (the legacy page's answer shows
/// `userName`, `userId`, `role`), then Katana's `.issued` and `.expires`. The security stamp
/// claim is left out: the gateway's directory has none, and the bearer middleware never reads
/// it.
/// [`Extra`] adds to both.
pub fn access_ticket(
    user: &TicketUser<'_>,
    extra: &Extra<'_>,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Ticket {
    let mut claims = vec![
        Claim::local(ticket::NAME_IDENTIFIER_CLAIM_TYPE, user.id),
        Claim::local(ticket::NAME_CLAIM_TYPE, user.name),
        Claim::local(
            ticket::IDENTITY_PROVIDER_CLAIM_TYPE,
            ticket::IDENTITY_PROVIDER,
        ),
    ];
    let mut properties: Vec<(String, String)> = extra
        .client
        .iter()
        .map(|(property, client)| ((*property).to_owned(), (*client).to_owned()))
        .collect();
    properties.extend([
        ("userName".to_owned(), user.name.to_owned()),
        ("userId".to_owned(), user.id.to_owned()),
    ]);
    if let Some(role) = user.role {
        claims.push(Claim::local(ticket::ROLE_CLAIM_TYPE, role));
        properties.push(("role".to_owned(), role.to_owned()));
    }
    claims.extend(
        extra
            .claims
            .iter()
            .map(|(claim_type, value)| Claim::local(claim_type, value)),
    );
    properties.push((ticket::ISSUED.to_owned(), ticket::rfc1123(issued)));
    properties.push((ticket::EXPIRES.to_owned(), ticket::rfc1123(expires)));
    Ticket {
        identity: Identity {
            authentication_type: BEARER.to_owned(),
            name_claim_type: ticket::NAME_CLAIM_TYPE.to_owned(),
            role_claim_type: ticket::ROLE_CLAIM_TYPE.to_owned(),
            claims,
            bootstrap_context: None,
        },
        properties,
    }
}

impl Ticket {
    /// The user a ticket names: its name identifier claim (ASP.NET Identity's user id), its
    /// name claim and its first role claim, by the identity's own claim types.
    pub fn user(&self) -> Option<TicketUser<'_>> {
        let identity = &self.identity;
        Some(TicketUser {
            id: identity.first(ticket::NAME_IDENTIFIER_CLAIM_TYPE)?,
            name: identity.name()?,
            role: identity.first(&identity.role_claim_type),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SeededIds;

    fn format() -> TicketFormat {
        let key = MachineKey::new(
            Validation::HmacSha256,
            &"ab".repeat(64),
            Decryption::Aes,
            &"cd".repeat(32),
        )
        .unwrap();
        TicketFormat::new(&key, ACCESS_TOKEN_PURPOSES.map(String::from).to_vec())
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn issues_and_reads_back_the_templates_ticket() {
        let user = TicketUser {
            id: "614a1d03-873d-489e-9ab5-fb53b0a0c64f",
            name: "user@example.com",
            role: Some("Administrator"),
        };
        let ticket = access_ticket(
            &user,
            &Extra::default(),
            at("2020-09-13T09:35:33Z"),
            at("2020-09-27T09:35:33Z"),
        );
        let format = format();
        let text = format.protect(&ticket, &SeededIds::new(1));
        assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        // Deterministic with a seeded IV, different with another.
        assert_eq!(text, format.protect(&ticket, &SeededIds::new(1)));
        assert_ne!(text, format.protect(&ticket, &SeededIds::new(2)));
        let back = format.unprotect(&text).unwrap();
        assert_eq!(back, ticket);
        assert_eq!(back.user(), Some(user));
        let keys: Vec<&str> = back.properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["userName", "userId", "role", ".issued", ".expires"]);
        assert_eq!(
            back.property(".expires"),
            Some("Sun, 27 Sep 2020 09:35:33 GMT")
        );
    }

    #[test]
    fn refuses_what_is_not_its_ticket() {
        let format = format();
        assert_eq!(format.unprotect("not base64!"), Err(ReadError::Encoding));
        assert!(matches!(
            format.unprotect("AAAA"),
            Err(ReadError::Protection(_))
        ));
        // The legacy page's sample token has the length of AES with HMAC-SHA256 (16-byte IV,
        // whole blocks, 32-byte MAC) and is unpadded base64url: it reads as far as the MAC.
        let sample = "_OKlRyxchDiJgKXaOoz6gHMLNjmGGZHr27kyDG6NgbMlnOUJqatgglDePpDCCzRxr1Mj0jtked0pTJDhuJOt1cWeGrigebwvXacwYPJBc2_QxEsgsJX2WMGOvY7TGarhwflE7oDO_0OPU5QrywLZMuBlTGCGOLhwnGYZ9Mb-_EwCxKRl5dAdSd5_1GUeKEa8OpMs7Rm9JuyOfyVmlQWYzebeaPdVC_t4RR9ie8zrcHUEy7n9aHxkh4OXc7DFg4HjaBHAdWFySg0ZCWaCEwVCZggNJSN2XTrMbiWxkp9sMGIKdsMC7JLWk8J94idHfvm0JvjpZ2PtwH-L1aRzwsxqz4u95dp5Zoe9j3YSvqVOhEOEVXHueynpdUnLEvXMJ7Kg-WiwTh4UP7p8z2K1bdsCKaZdIHIjmSbsXmd0NDK-CzusBgpFpFEO5VWa0-2OOuk0KNM_35kxOzHzR9DMsl-lmRB9hFBRjjbHIB_OUeQN_SgJdELCLsqaZSRruHAAREwK7CLv3kwgQY5LTHdh4sxqKcUj8mS4YDOg-zlni5pig24";
        let decoded = decode_base64url(sample).unwrap();
        assert_eq!((decoded.len() - 16 - 32) % 16, 0);
        assert_eq!(
            format.unprotect(sample),
            Err(ReadError::Protection(machine_key::UnprotectError::Mac))
        );
    }
}
