//! Each kind against vectors from its own published sources, and every malformed form refused
//! at load with a message that never quotes the value.

use super::*;

fn plain(password: &str) -> PasswordProof {
    PasswordProof::Plain(Secret::new(password))
}

fn digest_of(password: &str) -> PasswordProof {
    PasswordProof::Sha1Hex(Sha1Hex::of_password(&Secret::new(password)))
}

fn parse(text: &str) -> StoredHash {
    StoredHash::parse(text, InputSetting::default()).expect(text)
}

fn refused(text: &str) -> HashError {
    let error = StoredHash::parse(text, InputSetting::default())
        .map(|hash| format!("{hash:?}"))
        .expect_err(text);
    let shown = error.to_string();
    assert!(
        text.len() < 8 || !shown.contains(text),
        "the message quotes the value: {shown}"
    );
    error
}

#[test]
fn tokengate_argon2id_hashes_verify_both_proof_kinds_of_their_password_only() {
    let password = Secret::new("P@ssw0rd!");
    let stored = parse(&hash_password(&password, NewHashFormat::Argon2id).expect("hashes"));
    assert_eq!(
        (stored.kind(), stored.input()),
        (HashKind::Argon2id, HashInput::Sha1Hex)
    );
    assert!(stored.verify(&plain("P@ssw0rd!")));
    assert!(stored.verify(&digest_of("P@ssw0rd!")));
    assert!(!stored.verify(&plain("p@ssw0rd!")));
    assert!(!stored.verify(&digest_of("p@ssw0rd!")));
}

#[test]
fn argon2id_verification_agrees_with_argon2s_own_verifier_across_parameters() {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    let digest = Sha1Hex::of_password(&Secret::new("P@ssw0rd!")).to_lower_hex();
    // Larger then smaller memory on one thread, so the reused buffer is longer than needed.
    for (m, t, p, out) in [
        (64, 1, 1, 32),
        (256, 2, 2, 16),
        (32, 3, 1, 64),
        (8, 1, 1, 32),
    ] {
        let params = Params::new(m, t, p, Some(out)).unwrap();
        let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(digest.as_bytes(), &salt)
            .unwrap()
            .to_string();
        let stored = parse(&phc);
        let parsed = PasswordHash::new(&phc).unwrap();
        for (proof, right) in [("P@ssw0rd!", true), ("p@ssw0rd!", false)] {
            let proof = plain(proof);
            let theirs = argon2id::argon2()
                .verify_password(proof.to_sha1().to_lower_hex().as_bytes(), &parsed)
                .is_ok();
            assert_eq!((stored.verify(&proof), theirs), (right, right), "{phc}");
        }
    }
}

/// aspnetcore, src/Identity/test/Identity.Test/PasswordHasherTest.cs: hashes of "my password"
/// (the sequential salt 00 01 02 ... of its test RNG, and the verify-only payloads).
const ASPNETCORE_VECTORS: &[(&str, HashKind, &str)] = &[
    (
        "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==",
        HashKind::IdentityV2,
        "HashPassword_Version2",
    ),
    (
        "ANXrDknc7fGPpigibZXXZFMX4aoqz44JveK6jQuwY3eH/UyPhvr5xTPeGYEckLxz9A==",
        HashKind::IdentityV2,
        "SHA1, 1000 iterations",
    ),
    (
        "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==",
        HashKind::IdentityV3,
        "HashPassword_Version3: SHA256, 10 000 iterations",
    ),
    (
        "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHw",
        HashKind::IdentityV3,
        "SHA512, 50 iterations, 128-bit subkey",
    ),
    (
        "AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9AGZzmRTxSkP7LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw==",
        HashKind::IdentityV3,
        "SHA512, 250 iterations, 256-bit salt, 512-bit subkey",
    ),
    (
        "AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M",
        HashKind::IdentityV3,
        "SHA1, 250 iterations",
    ),
    (
        "AQAAAAEAA9CQAAAAIESkQuj2Du8Y+kbc5lcN/W/3NiAZFEm11P27nrSN5/tId+bR1SwV8CO1Jd72r4C08OLvplNlCDc3oQZ8efcW+jQ=",
        HashKind::IdentityV3,
        "SHA256, 250 000 iterations",
    ),
];

#[test]
fn aspnetcore_identity_test_vectors_verify_my_password_and_nothing_else() {
    for &(text, kind, what) in ASPNETCORE_VECTORS {
        let stored = parse(text);
        assert_eq!(
            (stored.kind(), stored.input()),
            (kind, HashInput::Plain),
            "{what}"
        );
        assert!(stored.verify(&plain("my password")), "{what}");
        assert!(!stored.verify(&plain("my passwore")), "{what}");
        assert!(!stored.verify(&plain("")), "{what}");
        // Over the plain password: a client's digest cannot be checked against it.
        assert!(!stored.verifiable_from_sha1_hex(), "{what}");
        assert!(!stored.verify(&digest_of("my password")), "{what}");
    }
}

#[test]
fn aspnetcore_identity_failure_payloads_are_refused_or_fail() {
    // The same test file's VerifyHashedPassword_FailureCases: each fails for "my password".
    for text in [
        "AAABAgMEBQYHCAkKCwwNDg+uAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAALtH1uJg==",
        "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggE=",
        "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJgAAAAAAAAAAAAA=",
        "AQAAAAAAAAD6AAAAEAhftMyfTJyAAAAAAAAAAAAAAAAAAAih5WsjXaR3PA9M",
        "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4A=",
        "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHwAAAAAAAAAAAA",
    ] {
        match StoredHash::parse(text, InputSetting::default()) {
            Ok(stored) => assert!(!stored.verify(&plain("my password")), "{text}"),
            Err(HashError::Malformed { .. }) => {}
            Err(other) => panic!("{text}: {other}"),
        }
    }
}

/// bcrypt: openwall crypt_blowfish's wrapper.c `tests[]` (the ASCII entries) and jBCrypt's
/// TestBCrypt vectors; `$2b$` and `$2y$` compute as `$2a$` for these passwords (openwall's
/// notes on the prefixes), so the same strings under those prefixes verify too.
const BCRYPT_VECTORS: &[(&str, &str)] = &[
    (
        "U*U",
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    ),
    (
        "U*U*",
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
    ),
    (
        "U*U*U",
        "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a",
    ),
    (
        "",
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy",
    ),
    (
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
        "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
    ),
    (
        "abc",
        "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
    ),
];

#[test]
fn bcrypt_published_vectors_verify_under_every_accepted_prefix() {
    for &(password, text) in BCRYPT_VECTORS {
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let text = format!("{prefix}{}", &text[4..]);
            let stored = parse(&text);
            assert_eq!(
                (stored.kind(), stored.input()),
                (HashKind::Bcrypt, HashInput::Plain)
            );
            assert!(stored.verify(&plain(password)), "{text}");
            assert!(
                !stored.verify(&plain(&format!("{password}x"))) || password.len() > 72,
                "{text}"
            );
            assert!(!stored.verify(&plain("wrong")), "{text}");
        }
    }
}

#[test]
fn sha1_hex_digests_compare_either_case_against_either_proof() {
    // SHA-1("P@ssw0rd!"), as `printf 'P@ssw0rd!' | sha1sum` prints it.
    let lower = Sha1Hex::of_password(&Secret::new("P@ssw0rd!")).to_lower_hex();
    for text in [lower.clone(), lower.to_uppercase()] {
        let stored = parse(&text);
        assert_eq!(
            (stored.kind(), stored.input()),
            (HashKind::Sha1Hex, HashInput::Plain)
        );
        assert!(stored.verifiable_from_sha1_hex());
        assert!(stored.verify(&plain("P@ssw0rd!")));
        assert!(stored.verify(&digest_of("P@ssw0rd!")));
        assert!(!stored.verify(&plain("P@ssw0rd")));
        assert!(!stored.verify(&digest_of("P@ssw0rd")));
    }
    // The directory's "sha1_hex" is about hashes that have an input; a user's is a mistake.
    let directory = InputSetting {
        user: None,
        directory: Some(HashInput::Sha1Hex),
    };
    assert!(StoredHash::parse(&lower, directory).is_ok());
    let user = InputSetting {
        user: Some(HashInput::Sha1Hex),
        directory: None,
    };
    assert_eq!(
        StoredHash::parse(&lower, user).err(),
        Some(HashError::InputNotApplicable)
    );
}

#[test]
fn a_hash_over_the_sha1_hex_verifies_both_proofs() {
    let digest = Sha1Hex::of_password(&Secret::new("my password")).to_lower_hex();
    let text = hash_password(&Secret::new(&*digest), NewHashFormat::IdentityV3).expect("hash");
    let over_hex = InputSetting {
        user: Some(HashInput::Sha1Hex),
        directory: Some(HashInput::Plain),
    };
    let stored = StoredHash::parse(&text, over_hex).expect("parses");
    assert_eq!(stored.input(), HashInput::Sha1Hex);
    assert!(stored.verifiable_from_sha1_hex());
    assert!(stored.verify(&plain("my password")));
    assert!(stored.verify(&digest_of("my password")));
    assert!(!stored.verify(&plain(&digest)));
    // The directory's setting applies when the user has none.
    let directory = InputSetting {
        user: None,
        directory: Some(HashInput::Sha1Hex),
    };
    assert!(
        StoredHash::parse(&text, directory)
            .expect("parses")
            .verify(&digest_of("my password"))
    );
}

#[test]
fn new_identity_v3_hashes_are_net7s_layout() {
    let text = hash_password(&Secret::new("my password"), NewHashFormat::IdentityV3).expect("hash");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .expect("base64");
    assert_eq!(bytes.len(), 13 + 16 + 32);
    assert_eq!(
        &bytes[..13],
        &[1, 0, 0, 0, 2, 0, 1, 0x86, 0xa0, 0, 0, 0, 16]
    );
    assert!(parse(&text).verify(&plain("my password")));
}

#[test]
fn malformed_values_are_refused_at_load_without_quoting_them() {
    use base64::engine::general_purpose::STANDARD;
    let v3 = |prf: u32, iterations: u32, salt_len: u32, salt: usize, subkey: usize| {
        let mut bytes = vec![1u8];
        for field in [prf, iterations, salt_len] {
            bytes.extend_from_slice(&field.to_be_bytes());
        }
        bytes.extend(std::iter::repeat_n(7u8, salt + subkey));
        STANDARD.encode(bytes)
    };
    let valid = ASPNETCORE_VECTORS[2].0;
    let cases: Vec<(String, &str)> = vec![
        ("P@ssw0rd!".into(), "not a PHC hash string"),
        (String::new(), "not a PHC hash string"),
        // Truncated into the salt (a truncated subkey that keeps 16 bytes parses, and fails
        // verification: see `a_truncated_subkey_parses_and_verifies_nothing`).
        (valid[..40].into(), "a 16-byte salt, but 17 bytes follow"),
        (valid[..20].into(), "a 16-byte salt, but 2 bytes follow"),
        (
            STANDARD.encode([1u8, 0, 0]),
            "shorter than the 13-byte header",
        ),
        (
            STANDARD.encode([0u8; 48]),
            "malformed ASP.NET Identity v2 hash: 48 bytes, expected 49",
        ),
        (STANDARD.encode([0u8; 50]), "50 bytes, expected 49"),
        (
            STANDARD.encode([2u8; 49]),
            "unknown ASP.NET Identity format marker 0x02",
        ),
        (STANDARD.encode([0xffu8; 61]), "marker 0xff"),
        (v3(3, 10_000, 16, 16, 32), "PRF 3 is unknown"),
        (v3(1, 0, 16, 16, 32), "0 iterations is outside 1..=10000000"),
        (
            v3(2, 20_000_000, 16, 16, 32),
            "20000000 iterations is outside",
        ),
        (
            v3(0, 10_000_000, 16, 16, 32),
            "outside 1..=5000000 for a 32-byte HMAC-SHA1 subkey",
        ),
        (
            v3(1, 10_000, 8, 8, 32),
            "salt length 8 is outside 16..=1024",
        ),
        (v3(1, 10_000, 0, 0, 48), "salt length 0"),
        (v3(1, 10_000, u32::MAX, 16, 32), "salt length 4294967295"),
        (
            v3(1, 10_000, 32, 16, 15),
            "declares a 32-byte salt, but 31 bytes follow",
        ),
        (v3(1, 10_000, 16, 16, 8), "but 24 bytes follow"),
        (
            v3(1, 10_000, 16, 16, 200),
            "the subkey is 200 bytes, over the bound of 128",
        ),
        (
            "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            "unsupported algorithm \"argon2i\"",
        ),
        (
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ".into(),
            "malformed argon2id hash",
        ),
        (
            "$argon2id$v=19$m=2000000,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            "over the bound of 1048576 KiB",
        ),
        (
            "$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            "t=1000 passes",
        ),
        (
            "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW".into(),
            "unsupported algorithm \"2x\"",
        ),
        (
            "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe".into(),
            "malformed bcrypt hash",
        ),
        (
            "$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW".into(),
            "cost 31 is outside 4..=16",
        ),
        ("$1$saltsalt$hash".into(), "unsupported algorithm \"1\""),
        (
            "$6$rounds=5000$salt$hash".into(),
            "unsupported algorithm \"6\"",
        ),
        ("a".repeat(39), "not a PHC hash string"),
        // Forty characters that are not hex, but base64: read as an Identity payload.
        (
            "g".repeat(40),
            "unknown ASP.NET Identity format marker 0x82",
        ),
    ];
    for (text, expected) in cases {
        let shown = refused(&text).to_string();
        assert!(
            shown.contains(expected),
            "{text:?}: {shown:?} lacks {expected:?}"
        );
    }
}

/// PBKDF2's output is a prefix of any longer output: a v3 subkey truncated (at a base64
/// boundary) to 16 bytes or more still verifies, as it does in ASP.NET.
#[test]
fn a_v3_subkey_truncated_to_16_bytes_or_more_verifies_as_in_aspnet() {
    let valid = ASPNETCORE_VECTORS[2].0;
    let truncated = parse(&valid[..valid.len() - 8]);
    assert!(truncated.verify(&plain("my password")));
    assert!(!truncated.verify(&plain("my passwore")));
}

#[test]
fn an_unusable_value_read_at_request_time_verifies_nothing_at_the_decoys_cost() {
    let decoy = parse(ASPNETCORE_VECTORS[2].0).decoy();
    let truncated = &ASPNETCORE_VECTORS[2].0[..40];
    let (hash, error) = StoredHash::parse_or_unusable(truncated, InputSetting::default(), &decoy);
    assert!(matches!(error, Some(HashError::Malformed { .. })));
    assert_eq!(hash.kind(), HashKind::Unusable);
    assert_eq!(hash.estimated_cost_us(), decoy.estimated_cost_us());
    assert!(!hash.verify(&plain("my password")));
    let shown = format!("{hash:?}");
    assert!(
        shown.starts_with("StoredHash(unusable: malformed ASP.NET Identity v3 hash"),
        "{shown}"
    );
    assert!(!shown.contains(truncated));
    let (good, error) =
        StoredHash::parse_or_unusable(ASPNETCORE_VECTORS[2].0, InputSetting::default(), &decoy);
    assert_eq!((good.kind(), error), (HashKind::IdentityV3, None));
}

#[test]
fn debug_shows_the_kind_and_parameters_never_the_material() {
    let text = ASPNETCORE_VECTORS[2].0;
    let shown = format!("{:?}", parse(text));
    assert_eq!(
        shown,
        "StoredHash(ASP.NET Identity v3, HMAC-SHA256, 10000 iterations, 16-byte salt, 32-byte subkey, over plain)"
    );
    let bcrypt = format!("{:?}", parse(BCRYPT_VECTORS[0].1));
    assert_eq!(bcrypt, "StoredHash(bcrypt, $2a$, cost 5, over plain)");
    let digest = Sha1Hex::of_password(&Secret::new("P@ssw0rd!")).to_lower_hex();
    let sha1 = format!("{:?}", parse(&digest));
    assert_eq!(sha1, "StoredHash(SHA-1 hex digest, over plain)");
    let argon = hash_password(&Secret::new("pw"), NewHashFormat::Argon2id).expect("hash");
    let shown = format!("{:?}", parse(&argon));
    assert_eq!(
        shown,
        "StoredHash(argon2id, m=19456, t=2, p=1, over sha1_hex)"
    );
}

#[test]
fn decoys_keep_the_kind_parameters_and_input_and_verify_nothing() {
    let mut texts: Vec<String> = ASPNETCORE_VECTORS.iter().map(|v| v.0.to_owned()).collect();
    texts.push(BCRYPT_VECTORS[0].1.to_owned());
    texts.push(Sha1Hex::of_password(&Secret::new("U*U")).to_lower_hex());
    texts.push(hash_password(&Secret::new("U*U"), NewHashFormat::Argon2id).expect("hash"));
    for text in texts {
        let stored = parse(&text);
        let decoy = stored.decoy();
        assert_eq!(format!("{decoy:?}"), format!("{stored:?}"));
        assert_eq!(decoy.estimated_cost_us(), stored.estimated_cost_us());
        for password in ["my password", "U*U", ""] {
            assert!(!decoy.verify(&plain(password)), "{stored:?}");
        }
    }
    let fallback = StoredHash::default_decoy();
    assert_eq!(
        format!("{fallback:?}"),
        "StoredHash(argon2id, m=19456, t=2, p=1, over sha1_hex)"
    );
    assert!(!fallback.verify(&plain("")));
}

#[test]
fn cost_estimates_order_the_kinds_as_measured() {
    let cost = |text: &str| parse(text).estimated_cost_us();
    let argon = hash_password(&Secret::new("pw"), NewHashFormat::Argon2id).expect("hash");
    let net7 = hash_password(&Secret::new("pw"), NewHashFormat::IdentityV3).expect("hash");
    let sha1 = Sha1Hex::of_password(&Secret::new("pw")).to_lower_hex();
    // SHA-1 < v2 (1000 x 2 HMAC-SHA1 blocks) < Core's v3 (10 000 SHA256) < argon2id < .NET 7's v3.
    let order = [
        cost(&sha1),
        cost(ASPNETCORE_VECTORS[0].0),
        cost(ASPNETCORE_VECTORS[2].0),
        cost(&argon),
        cost(&net7),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}
