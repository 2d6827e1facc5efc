//! The Ed25519 rules of SPEC section 4 (canonical S, no small-order key or
//! R, compressed R compared byte for byte), checked against signatures
//! crafted to pass the plain cofactorless equation: each case below is one
//! that `ed25519-dalek`'s non-strict `verify` accepts and the core must refuse.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use kwh_btc_iot_core::model::head::Signature;
use sha2::{Digest, Sha512};

const MSG: &[u8] = b"{\"batch_id\":\"b\",\"seq\":1}";

fn challenge(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(m);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn sig(public_key: [u8; 32], r: [u8; 32], s: [u8; 32]) -> Signature {
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r);
    signature[32..].copy_from_slice(&s);
    Signature {
        public_key,
        signature,
    }
}

fn dalek_plain_accepts(s: &Signature, m: &[u8]) -> bool {
    let Ok(k) = VerifyingKey::from_bytes(&s.public_key) else {
        return false;
    };
    k.verify(m, &ed25519_dalek::Signature::from_bytes(&s.signature))
        .is_ok()
}

#[test]
fn honest_signatures_verify_and_any_changed_byte_fails() {
    for seed in 0u8..32 {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let s = Signature {
            public_key: sk.verifying_key().to_bytes(),
            signature: sk.sign(MSG).to_bytes(),
        };
        s.verify(MSG).expect("an honest signature verifies");
        for i in 0..96 {
            let mut t = s.clone();
            if i < 32 {
                t.public_key[i] ^= 1 << (i % 8);
            } else {
                t.signature[i - 32] ^= 1 << (i % 8);
            }
            assert!(t.verify(MSG).is_err(), "byte {i} changed, still verified");
        }
        assert!(s.verify(b"another message").is_err());
    }
}

#[test]
fn identity_r_with_s_equal_ka_is_refused() {
    // R = the identity (a small-order point), s = k·a: s·B = R + k·A holds.
    let a = Scalar::from_bytes_mod_order([9u8; 32]);
    let pk = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
    let r = EdwardsPoint::default().compress().to_bytes();
    let s = challenge(&r, &pk, MSG) * a;
    let forged = sig(pk, r, s.to_bytes());
    assert!(
        dalek_plain_accepts(&forged, MSG),
        "the crafted case must pass the plain equation"
    );
    assert!(
        forged.verify(MSG).is_err(),
        "a small-order R must be refused"
    );
}

#[test]
fn small_order_public_keys_are_refused() {
    // A = a point of small order, R = the identity, s = 0: whenever k·A is the
    // identity the plain equation holds, for a message nobody signed.
    let r = EdwardsPoint::default().compress().to_bytes();
    let mut passed_plain = 0;
    for t in EIGHT_TORSION.iter() {
        let pk = t.compress().to_bytes();
        for n in 0u32..64 {
            let m = format!("message {n}");
            let forged = sig(pk, r, [0u8; 32]);
            if dalek_plain_accepts(&forged, m.as_bytes()) {
                passed_plain += 1;
            }
            assert!(forged.verify(m.as_bytes()).is_err(), "key {t:?} accepted");
        }
    }
    assert!(
        passed_plain > 0,
        "no crafted case passed the plain equation"
    );
}

#[test]
fn every_small_order_r_is_refused() {
    // For each small-order T, the signer's R = T + r·B is not small order,
    // but R = T itself is; refuse it with any s.
    let sk = SigningKey::from_bytes(&[3u8; 32]);
    let pk = sk.verifying_key().to_bytes();
    for t in EIGHT_TORSION.iter() {
        let forged = sig(pk, t.compress().to_bytes(), [1u8; 32]);
        assert!(forged.verify(MSG).is_err());
    }
}

#[test]
fn non_canonical_s_is_refused() {
    // s + L verifies the same equation; only the canonical s is accepted.
    let sk = SigningKey::from_bytes(&[5u8; 32]);
    let good = sk.sign(MSG).to_bytes();
    let s = Scalar::from_canonical_bytes(good[32..].try_into().unwrap()).unwrap();
    // L in little endian.
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = s.to_bytes()[i] as u16 + l[i] as u16 + carry;
        sum[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0, "s + L fits in 32 bytes for this key");
    let mut r = [0u8; 32];
    r.copy_from_slice(&good[..32]);
    let forged = sig(sk.verifying_key().to_bytes(), r, sum);
    assert!(forged.verify(MSG).is_err());
}

#[test]
fn same_verdict_as_verify_strict_on_mutations() {
    // Outside the crafted cases, the core agrees with ed25519-dalek's strict check.
    for seed in 0u8..16 {
        let sk = SigningKey::from_bytes(&[seed.wrapping_mul(17); 32]);
        let vk = sk.verifying_key();
        let good = sk.sign(MSG).to_bytes();
        for i in 0..64 {
            for bit in [0u8, 7] {
                let mut b = good;
                b[i] ^= 1 << bit;
                let ours = sig(
                    vk.to_bytes(),
                    b[..32].try_into().unwrap(),
                    b[32..].try_into().unwrap(),
                )
                .verify(MSG)
                .is_ok();
                let strict = vk
                    .verify_strict(MSG, &ed25519_dalek::Signature::from_bytes(&b))
                    .is_ok();
                assert_eq!(ours, strict, "seed {seed} byte {i} bit {bit}");
            }
        }
    }
}
