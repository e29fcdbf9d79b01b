//! Katana access tickets against an independent implementation: the C# program
//! `tests/vectors/katana/KatanaTickets.cs` (Katana's TicketSerializer ported, ASP.NET 4.5's
//! MachineKey.Protect written from its public description over Mono's own cryptography). Its
//! tickets, committed in `fixtures/katana/mono-tickets.tsv`, must read here with every claim
//! and property; with `TOKENGATE_KATANA_EXE` naming the compiled program (`.ci/run` sets it),
//! fresh ones must too, and the program must read the tickets this gateway issues. Then the
//! gateway itself: the `/Token` route issuing tickets, and introspection and revocation
//! reading them, the legacy server's included.

use std::process::Command;
use std::sync::Arc;

use chrono::TimeDelta;
use tokengate::engine::FixedClock;
use tokengate::engine::katana::{
    ACCESS_TOKEN_PURPOSES, Decryption, MachineKey, REFRESH_TOKEN_PURPOSES, Ticket, TicketFormat,
    Validation,
};

use crate::helpers::{
    Answer, FORM, TestApp, form, gateway_from, golden_instant, repo_path, send, service,
};

/// An in-process gateway over a config text at the golden instant, and its clock.
macro_rules! katana_app {
    ($config:expr) => {{
        let clock = Arc::new(FixedClock::new(golden_instant()));
        let gateway = Arc::new(gateway_from(&$config, clock.clone()));
        (service(gateway).await, clock)
    }};
}
use crate::owin::{RESOURCE_SERVER, active, config, introspect, login, revoke};

/// The ticket KatanaTickets.cs writes, as its `Describe` prints one.
fn expected_description() -> String {
    const STRING: &str = "http://www.w3.org/2001/XMLSchema#string";
    const LOCAL: &str = "LOCAL AUTHORITY|LOCAL AUTHORITY";
    let claims = [
        format!(
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier|614a1d03-873d-489e-9ab5-fb53b0a0c64f|{STRING}|{LOCAL}"
        ),
        format!(
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name|user@example.com|{STRING}|{LOCAL}"
        ),
        format!(
            "http://schemas.microsoft.com/accesscontrolservice/2010/07/claims/identityprovider|ASP.NET Identity|{STRING}|{LOCAL}"
        ),
        format!(
            "http://schemas.microsoft.com/ws/2008/06/identity/claims/role|Administrator|{STRING}|{LOCAL}"
        ),
        format!(
            "urn:tokengate:display|Zoë Ünïcode ✓|{STRING}|https://legacy.example|https://legacy.example"
        ),
        format!(
            "urn:tokengate:long|{}|http://www.w3.org/2001/XMLSchema#integer|{LOCAL}",
            "x".repeat(200)
        ),
    ];
    let properties = [
        "userName|user@example.com",
        "userId|614a1d03-873d-489e-9ab5-fb53b0a0c64f",
        "role|Administrator",
        ".issued|Sun, 13 Sep 2020 09:35:33 GMT",
        ".expires|Sun, 27 Sep 2020 09:35:33 GMT",
    ];
    let mut text = String::from(
        "authentication_type=Bearer\n\
         name_claim_type=http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name\n\
         role_claim_type=http://schemas.microsoft.com/ws/2008/06/identity/claims/role\n",
    );
    for claim in claims {
        text.push_str(&format!("claim={claim}\n"));
    }
    for property in properties {
        text.push_str(&format!("property={property}\n"));
    }
    text.push_str("end");
    text
}

/// `Describe` of KatanaTickets.cs, over a ticket read here.
fn describe(ticket: &Ticket) -> String {
    let identity = &ticket.identity;
    let mut text = format!(
        "authentication_type={}\nname_claim_type={}\nrole_claim_type={}\n",
        identity.authentication_type, identity.name_claim_type, identity.role_claim_type
    );
    for c in &identity.claims {
        text.push_str(&format!(
            "claim={}|{}|{}|{}|{}\n",
            c.claim_type, c.value, c.value_type, c.issuer, c.original_issuer
        ));
    }
    for (key, value) in &ticket.properties {
        text.push_str(&format!("property={key}|{value}\n"));
    }
    text.push_str("end");
    text
}

struct Line {
    validation: String,
    decryption: String,
    validation_key: String,
    decryption_key: String,
    ticket: String,
}

impl Line {
    fn parse(line: &str) -> Self {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "{line}");
        Self {
            validation: f[0].into(),
            decryption: f[1].into(),
            validation_key: f[2].into(),
            decryption_key: f[3].into(),
            ticket: f[4].into(),
        }
    }

    fn machine_key(&self) -> MachineKey {
        MachineKey::new(
            Validation::parse(&self.validation).unwrap(),
            &self.validation_key,
            Decryption::parse(&self.decryption).unwrap(),
            &self.decryption_key,
        )
        .unwrap()
    }

    /// The line's machineKey with the access-token purposes.
    fn format(&self) -> TicketFormat {
        TicketFormat::new(
            &self.machine_key(),
            ACCESS_TOKEN_PURPOSES.map(String::from).to_vec(),
        )
    }

    fn write(&self, ticket: &str) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{ticket}\n",
            self.validation, self.decryption, self.validation_key, self.decryption_key
        )
    }
}

fn read_lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(Line::parse)
        .collect()
}

/// Every line's ticket reads with its own machineKey to exactly the expected ticket.
fn check_mono_tickets(lines: &[Line]) {
    assert_eq!(lines.len(), 5, "every algorithm and key size");
    for line in lines {
        let ticket = line
            .format()
            .unprotect(&line.ticket)
            .unwrap_or_else(|e| panic!("{}/{}: {e}", line.validation, line.decryption));
        assert_eq!(describe(&ticket), expected_description());
        assert_eq!(
            ticket.expires().unwrap().to_rfc3339(),
            "2020-09-27T09:35:33+00:00"
        );
    }
}

#[test]
fn committed_mono_tickets_read_with_every_claim_and_property() {
    let text = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    check_mono_tickets(&read_lines(&text));
}

#[test]
fn a_mono_ticket_fails_under_another_key_or_purpose() {
    let text = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    let lines = read_lines(&text);
    let (first, second) = (&lines[1], &lines[2]);
    assert!(second.format().unprotect(&first.ticket).is_err());
    let refresh = TicketFormat::new(
        &first.machine_key(),
        vec![
            "Microsoft.Owin.Security.OAuth".into(),
            "Refresh_Token".into(),
            "v1".into(),
        ],
    );
    assert!(refresh.unprotect(&first.ticket).is_err());
}

fn mono(exe: &str, args: &[&str]) -> String {
    let out = Command::new("mono")
        .arg(exe)
        .args(args)
        .output()
        .expect("mono runs");
    assert!(
        out.status.success(),
        "mono {exe} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `.ci/run` compiles KatanaTickets.cs and names it here: fresh Mono tickets (random IVs) read
/// here, and tickets this side protects (the C# program's own, re-protected, and the gateway's
/// from a password grant) read there, a tampered one refused.
#[tokio::test]
async fn fresh_tickets_read_both_ways_with_the_mono_program_named_by_the_environment() {
    let Some(exe) = std::env::var_os("TOKENGATE_KATANA_EXE") else {
        eprintln!("skipped: TOKENGATE_KATANA_EXE is unset (.ci/run sets it)");
        return;
    };
    let exe = exe.to_str().unwrap().to_owned();
    let dir = std::env::temp_dir().join(format!("tokengate-katana-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let made = dir.join("mono.tsv");
    mono(&exe, &["make", made.to_str().unwrap()]);
    let lines = read_lines(&std::fs::read_to_string(&made).unwrap());
    check_mono_tickets(&lines);

    // Each Mono ticket read here and protected again by this side, with a fresh IV.
    let ids = tokengate::engine::OsIds;
    let mut ours = String::new();
    for line in &lines {
        let format = line.format();
        let ticket = format.unprotect(&line.ticket).unwrap();
        ours.push_str(&line.write(&format.protect(&ticket, &ids)));
    }
    // The gateway's own ticket from a password grant, under the fixture's HMACSHA256/AES key.
    let (app, _clock) = katana_app!(config(""));
    let issued = login(&app, "/katana/Token").await;
    let gateway_ticket = issued["access_token"].as_str().unwrap().to_owned();
    ours.push_str(&lines[1].write(&gateway_ticket));
    // One byte changed: refused there too.
    let mut tampered = gateway_ticket.clone().into_bytes();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    ours.push_str(&lines[1].write(&String::from_utf8(tampered).unwrap()));
    let ours_path = dir.join("ours.tsv");
    std::fs::write(&ours_path, &ours).unwrap();

    let read = mono(&exe, &["read", ours_path.to_str().unwrap()]);
    let described: Vec<&str> = read.split("end\n").collect();
    for (i, text) in described.iter().take(lines.len()).enumerate() {
        assert_eq!(format!("{text}end"), expected_description(), "line {i}");
    }
    let gateway = lines[1].format().unprotect(&gateway_ticket).unwrap();
    assert_eq!(format!("{}end", described[lines.len()]), describe(&gateway));
    assert_eq!(described[lines.len() + 1], "invalid\n");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_katana_route_issues_tickets_the_legacy_key_reads() {
    let (app, _clock) = katana_app!(config(""));
    let answer = login(&app, "/katana/Token").await;
    let token = answer["access_token"].as_str().unwrap();
    let text = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    let ticket = read_lines(&text)[1].format().unprotect(token).unwrap();
    let user = ticket.user().unwrap();
    assert_eq!(user.id, answer["userId"].as_str().unwrap());
    assert_eq!(user.name, answer["userName"].as_str().unwrap());
    assert_eq!(user.role, answer["role"].as_str());
    assert_eq!(ticket.identity.authentication_type, "Bearer");
    // `.issued` and `.expires` are the answer's, to the byte.
    assert_eq!(ticket.property(".issued"), answer[".issued"].as_str());
    assert_eq!(ticket.property(".expires"), answer[".expires"].as_str());
    let keys: Vec<&str> = ticket.properties.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["userName", "userId", "role", ".issued", ".expires"]);
}

/// `[katana] claims`: the user's attributes as extra claims, after the template's, in claim-type
/// order; a user without the attribute gets no such claim. `client_property`: the client id,
/// first among the properties.
#[tokio::test]
async fn katana_claims_carry_the_users_attributes_and_client_property_the_client() {
    const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
    let text = config(&format!(
        "[katana.claims]\n\"{EMAIL}\" = \"email\"\n\"urn:editor\" = \"is_editor\"\n\"urn:absent\" = \"nickname\"\n"
    ))
    .replacen(
        "role = \"Administrator\"\n",
        "role = \"Administrator\"\nattributes = { email = \"user@example.com\", is_editor = true }\n",
        1,
    )
    .replacen(
        "compatibility = \"Framework45\"\n",
        "compatibility = \"Framework45\"\nclient_property = \"as:client_id\"\n",
        1,
    );
    let (app, _clock) = katana_app!(text);
    let answer = login(&app, "/katana/Token").await;
    let token = answer["access_token"].as_str().unwrap();
    let mono = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    let ticket = read_lines(&mono)[1].format().unprotect(token).unwrap();
    let claims: Vec<(&str, &str)> = ticket
        .identity
        .claims
        .iter()
        .map(|c| (c.claim_type.as_str(), c.value.as_str()))
        .collect();
    let template = &claims[..claims.len() - 2];
    assert!(
        template
            .iter()
            .any(|(t, v)| t.ends_with("/role") && *v == "Administrator"),
        "{claims:?}"
    );
    assert_eq!(
        &claims[claims.len() - 2..],
        [(EMAIL, "user@example.com"), ("urn:editor", "True")],
        "{claims:?}"
    );
    let keys: Vec<&str> = ticket.properties.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "as:client_id",
            "userName",
            "userId",
            "role",
            ".issued",
            ".expires"
        ]
    );
    assert_eq!(ticket.property("as:client_id"), Some("demo-client"));
}

#[tokio::test]
async fn introspection_and_revocation_read_tickets() {
    let (app, clock) = katana_app!(config(""));
    let token = login(&app, "/katana/Token").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = introspect(&app, &token, Some(RESOURCE_SERVER)).await;
    assert!(active(&answer));
    let json = answer.json();
    assert_eq!(json["sub"], "614a1d03-873d-489e-9ab5-fb53b0a0c64f");
    assert_eq!(json["username"], "user@example.com");
    assert_eq!(json["role"], "Administrator");
    assert_eq!(json["iat"], golden_instant().timestamp());
    assert_eq!(json["exp"], golden_instant().timestamp() + 14 * 86_400);
    // A ticket names no client and no session of the gateway's.
    assert!(
        json.get("client_id").is_none() && json.get("sid").is_none(),
        "{json}"
    );

    // Tampered, truncated, another key, another purpose: inactive, never an error.
    let mut tampered = token.clone().into_bytes();
    tampered[30] = if tampered[30] == b'x' { b'y' } else { b'x' };
    let other_key = config("").replace(
        "decryption_key = \"00112233445566778899AABBCCDDEEFF",
        "decryption_key = \"10112233445566778899AABBCCDDEEFF",
    );
    let other_purpose = config("").replace(
        "compatibility = \"Framework45\"",
        "compatibility = \"Framework45\"\npurposes = [\"Microsoft.Owin.Security.OAuth\", \"Refresh_Token\", \"v1\"]",
    );
    for bad in [
        String::from_utf8(tampered).unwrap(),
        token[..token.len() - 4].to_owned(),
        format!("{token}=="),
        "!!!".to_owned(),
    ] {
        assert!(
            !active(&introspect(&app, &bad, Some(RESOURCE_SERVER)).await),
            "{bad}"
        );
    }
    for other in [other_key, other_purpose] {
        let (other_app, _) = katana_app!(other);
        assert!(!active(
            &introspect(&other_app, &token, Some(RESOURCE_SERVER)).await
        ));
    }

    // Only a resource server may revoke a ticket (it names no client); then it is inactive.
    let not_owned = revoke(&app, &token, "demo-client:", None).await;
    assert_eq!(not_owned.status, 400, "{}", not_owned.text());
    assert_eq!(
        revoke(&app, &token, RESOURCE_SERVER, None).await.status,
        200
    );
    assert!(!active(
        &introspect(&app, &token, Some(RESOURCE_SERVER)).await
    ));

    // Expiry follows the bearer middleware: active at `.expires`, inactive a second after.
    let fresh = login(&app, "/katana/Token").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(TimeDelta::days(14) - TimeDelta::microseconds(400));
    assert!(active(
        &introspect(&app, &fresh, Some(RESOURCE_SERVER)).await
    ));
    clock.advance(TimeDelta::seconds(1));
    assert!(!active(
        &introspect(&app, &fresh, Some(RESOURCE_SERVER)).await
    ));
}

/// A ticket the legacy server issued before the cut-over (here: Mono's, under the same key)
/// introspects as active until its `.expires`: no flag day.
#[tokio::test]
async fn a_legacy_ticket_stays_active_until_it_expires() {
    let (app, clock) = katana_app!(config(""));
    let text = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    let legacy = &read_lines(&text)[1].ticket;
    let answer = introspect(&app, legacy, Some(RESOURCE_SERVER)).await;
    assert!(active(&answer));
    assert_eq!(answer.json()["username"], "user@example.com");
    clock.advance(TimeDelta::days(15));
    assert!(!active(
        &introspect(&app, legacy, Some(RESOURCE_SERVER)).await
    ));
}

/// The katana route redeeming the legacy server's refresh tickets, with refresh tokens of its
/// own.
fn legacy_refresh_config(extra: &str) -> String {
    config(extra).replacen(
        "access_token_format = \"katana_ticket\"\n",
        "access_token_format = \"katana_ticket\"\nrefresh_token_ttl = \"14days\"\nlegacy_refresh_tickets = true\n",
        1,
    )
}

/// The Mono ticket as the legacy server's refresh ticket: the same ticket under the refresh
/// purposes, with `edit` applied first.
fn legacy_refresh_ticket(edit: impl FnOnce(&mut Ticket)) -> String {
    let text = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    let line = &read_lines(&text)[1];
    let mut ticket = line.format().unprotect(&line.ticket).unwrap();
    edit(&mut ticket);
    TicketFormat::new(
        &line.machine_key(),
        REFRESH_TOKEN_PURPOSES.map(String::from).to_vec(),
    )
    .protect(&ticket, &tokengate::engine::OsIds)
}

async fn redeem<S: TestApp>(app: &S, token: &str) -> Answer {
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
    send(app, "POST", "/katana/Token", &[FORM], body).await
}

fn refused(answer: &Answer) {
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.json()["error"], "invalid_grant", "{}", answer.text());
}

/// `legacy_refresh_tickets`: a refresh ticket of the legacy server redeems, as often as its
/// refresh grant took it, for an access ticket and a refresh token of the gateway's, which
/// goes on as the gateway's own do. Introspection and revocation read it; revoked, expired,
/// under the access purposes, of another client or on a route without the key, it is refused.
#[tokio::test]
async fn legacy_refresh_tickets_redeem_where_the_route_says_so() {
    let (app, clock) = katana_app!(legacy_refresh_config(""));
    let legacy = legacy_refresh_ticket(|_| {});
    let first = redeem(&app, &legacy).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    let access = first["access_token"].as_str().unwrap();
    let text = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    let ticket = read_lines(&text)[1].format().unprotect(access).unwrap();
    assert_eq!(ticket.user().unwrap().name, "user@example.com");
    let ours = first["refresh_token"].as_str().unwrap();
    assert!(ours.len() <= 43, "{ours}");
    let next = redeem(&app, ours).await;
    assert_eq!(next.status, 200, "{}", next.text());
    // The legacy server kept no state of its tickets: a second redemption is not a replay.
    assert_eq!(redeem(&app, &legacy).await.status, 200);

    let answer = introspect(&app, &legacy, Some(RESOURCE_SERVER)).await;
    assert!(active(&answer));
    assert_eq!(answer.json()["username"], "user@example.com");
    let mono = &read_lines(&text)[1].ticket;
    refused(&redeem(&app, mono).await);
    let mut tampered = legacy.clone().into_bytes();
    tampered[30] = if tampered[30] == b'x' { b'y' } else { b'x' };
    refused(&redeem(&app, &String::from_utf8(tampered).unwrap()).await);
    let theirs = legacy_refresh_ticket(|t| {
        t.properties
            .insert(0, ("as:client_id".into(), "another-client".into()))
    });
    refused(&redeem(&app, &theirs).await);

    let (without, _) = katana_app!(config("").replacen(
        "access_token_format = \"katana_ticket\"\n",
        "access_token_format = \"katana_ticket\"\nrefresh_token_ttl = \"14days\"\n",
        1,
    ));
    refused(&redeem(&without, &legacy).await);

    assert_eq!(
        revoke(&app, &legacy, RESOURCE_SERVER, Some("refresh_token"))
            .await
            .status,
        200
    );
    assert!(!active(
        &introspect(&app, &legacy, Some(RESOURCE_SERVER)).await
    ));
    refused(&redeem(&app, &legacy).await);

    let other = legacy_refresh_ticket(|_| {});
    assert_eq!(redeem(&app, &other).await.status, 200);
    clock.advance(TimeDelta::days(15));
    refused(&redeem(&app, &other).await);
}

/// A route with a `katana` table of its own (a gateway replacing two legacy applications with
/// two machineKeys): its tickets are under its key, the other route's under `[katana]`'s, and
/// introspection reads the tickets of both keys, the legacy server's included.
#[tokio::test]
async fn a_route_with_its_own_machine_key_issues_and_reads_under_it() {
    let mono = std::fs::read_to_string(repo_path("fixtures/katana/mono-tickets.tsv")).unwrap();
    let lines = read_lines(&mono);
    let other = &lines[3];
    let text = config(&format!(
        "\n[[route]]\ndialect = \"owin\"\npath = \"/second/Token\"\nanonymous_client = \"demo-client\"\n\
         access_token_format = \"katana_ticket\"\n\
         katana = {{ validation = \"{}\", validation_key = \"{}\", decryption = \"{}\", decryption_key = \"{}\" }}\n",
        other.validation, other.validation_key, other.decryption, other.decryption_key
    ));
    let (app, _clock) = katana_app!(text);
    let first = login(&app, "/katana/Token").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = login(&app, "/second/Token").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(lines[1].format().unprotect(&first).is_ok());
    assert!(other.format().unprotect(&second).is_ok());
    assert!(lines[1].format().unprotect(&second).is_err());
    for token in [&first, &second, &other.ticket] {
        let answer = introspect(&app, token, Some(RESOURCE_SERVER)).await;
        assert!(active(&answer), "{}", answer.text());
    }
}
