//! Criterion benchmarks of one password verification per stored-hash kind, the figures the
//! README's "Accepted password hashes" table quotes and `StoredHash::estimated_cost_us` is
//! calibrated on: argon2id (tokengate's default parameters), bcrypt cost 10, ASP.NET Identity
//! v2, v3 at Core's 10 000 HMAC-SHA256 and .NET 7's 100 000 HMAC-SHA512 iterations, and the
//! legacy SHA-1 digest. Each is a correct password (a wrong one costs the same).
//! Run: `cargo bench --bench hashes` (one kind: `cargo bench --bench hashes -- sha512`).

// A failed assumption in a test or a bench is a failure to see, not a request to survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tokengate::domain::{PasswordProof, Secret, Sha1Hex};
use tokengate::engine::password::{NewHashFormat, hash_password};
use tokengate::engine::{InputSetting, StoredHash};

/// Identity v3 over "pw" with `prf` (0 SHA1, 1 SHA256, 2 SHA512) and `iterations`, laid out
/// from a v3 hash made here: only the header's PRF and count, and the subkey, differ.
fn identity_v3(prf: u32, iterations: u32) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = vec![1u8];
    let salt = [7u8; 16];
    for field in [prf, iterations, 16] {
        bytes.extend_from_slice(&field.to_be_bytes());
    }
    bytes.extend_from_slice(&salt);
    let mut subkey = [0u8; 32];
    match prf {
        0 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"pw", &salt, iterations, &mut subkey),
        1 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"pw", &salt, iterations, &mut subkey),
        _ => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(b"pw", &salt, iterations, &mut subkey),
    }
    bytes.extend_from_slice(&subkey);
    engine.encode(bytes)
}

fn identity_v2() -> String {
    use base64::Engine as _;
    let salt = [9u8; 16];
    let mut subkey = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"pw", &salt, 1000, &mut subkey);
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(&salt);
    bytes.extend_from_slice(&subkey);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn verify(c: &mut Criterion) {
    let password = Secret::new("pw");
    let kinds = [
        (
            "argon2id_m19456_t2",
            hash_password(&password, NewHashFormat::Argon2id).unwrap(),
        ),
        ("bcrypt_cost10", bcrypt::hash("pw", 10).unwrap()),
        ("identity_v2_sha1_1000", identity_v2()),
        ("identity_v3_sha1_10000", identity_v3(0, 10_000)),
        ("identity_v3_sha256_10000", identity_v3(1, 10_000)),
        ("identity_v3_sha512_100000", identity_v3(2, 100_000)),
        ("sha1_hex", Sha1Hex::of_password(&password).to_lower_hex()),
    ];
    let proof = PasswordProof::Plain(password);
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    for (name, text) in kinds {
        let hash = StoredHash::parse(&text, InputSetting::default()).unwrap();
        assert!(hash.verify(&proof), "{name}");
        println!(
            "{name}: {hash:?}, estimated {} us",
            hash.estimated_cost_us()
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(hash.verify(black_box(&proof))))
        });
    }
    group.finish();
}

criterion_group!(hashes, verify);
criterion_main!(hashes);
