//! Shamir secret sharing over GF(2^8) with the AES polynomial 0x11B, in
//! sops' share layout: the y bytes in secret order, then one byte x.
//! Arithmetic is constant-time (no tables indexed by secret bytes).

use rand::RngCore;
use zeroize::Zeroizing;

fn mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut r) = (a, b, 0u8);
    for _ in 0..8 {
        r ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    r
}

fn inverse(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
/// Share i is evaluated at x = i + 1.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    // sops' (HashiCorp Vault's) messages.
    if parts < threshold {
        return Err("parts cannot be less than threshold".into());
    }
    if parts > 255 {
        return Err("parts cannot exceed 255".into());
    }
    if threshold < 2 {
        return Err("threshold must be at least 2".into());
    }
    if secret.is_empty() {
        return Err("cannot split an empty secret".into());
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1)))
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for &byte in secret {
        coeffs[0] = byte;
        rand::rngs::OsRng.fill_bytes(&mut coeffs[1..]);
        for (i, share) in shares.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            let y = coeffs.iter().rev().fold(0u8, |acc, &c| mul(acc, x) ^ c);
            share.push(y);
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        share.push((i + 1) as u8);
    }
    Ok(shares)
}

/// Recombines shares (at least two, equal length, distinct x) by Lagrange
/// interpolation at 0.
pub fn combine(shares: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, String> {
    if shares.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret".into());
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err("all parts must be the same length".into());
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate part detected".into());
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (i, share) in shares.iter().enumerate() {
        // basis_i(0) = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR.
        let mut basis = 1u8;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                basis = mul(basis, mul(xj, inverse(xj ^ xs[i])));
            }
        }
        for (out, &y) in secret.iter_mut().zip(share.iter()) {
            *out ^= mul(y, basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_basics() {
        assert_eq!(mul(0x57, 0x83), 0xc1); // FIPS-197 example
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1);
        }
    }

    // Tests named m10_* were added for issue 10 so that each mutant
    // `cargo mutants` makes of this file fails one of sops-core's own tests.

    #[test]
    fn m10_field_products() {
        assert_eq!(mul(0x80, 0x02), 0x1b); // reduction by 0x11b
        assert_eq!(mul(0x02, 0x80), 0x1b);
        assert_eq!(mul(0xff, 0x01), 0xff);
        assert_eq!(mul(0x00, 0xff), 0x00);
        assert_eq!(mul(0x53, 0xca), 0x01); // FIPS-197 inverse pair
        assert_eq!(inverse(0x53), 0xca);
        assert_eq!(inverse(0x01), 0x01);
    }

    #[test]
    fn m10_split_checks_its_arguments_as_vault_does() {
        let err = |parts, threshold, secret: &[u8]| split(secret, parts, threshold).err();
        assert_eq!(
            err(2, 3, b"s").as_deref(),
            Some("parts cannot be less than threshold")
        );
        assert_eq!(
            err(256, 2, b"s").as_deref(),
            Some("parts cannot exceed 255")
        );
        assert_eq!(
            err(3, 1, b"s").as_deref(),
            Some("threshold must be at least 2")
        );
        assert_eq!(
            err(3, 2, b"").as_deref(),
            Some("cannot split an empty secret")
        );
        assert_eq!(split(b"s", 255, 2).unwrap().len(), 255);
        assert_eq!(split(b"s", 3, 3).unwrap().len(), 3);
    }

    #[test]
    fn m10_any_threshold_shares_recover_and_fewer_do_not() {
        let secret: Vec<u8> = (0..32).map(|i| i * 5 + 1).collect();
        let shares = split(&secret, 5, 3).unwrap();
        for (i, share) in shares.iter().enumerate() {
            assert_eq!(share.len(), 33);
            assert_eq!(share[32] as usize, i + 1);
        }
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let pick = [shares[c].clone(), shares[a].clone(), shares[b].clone()];
                    assert_eq!(&combine(&pick).unwrap()[..], &secret[..], "{a}{b}{c}");
                }
                // Two shares of a threshold of three give another secret.
                let pair = [shares[a].clone(), shares[b].clone()];
                assert_ne!(&combine(&pair).unwrap()[..], &secret[..]);
            }
        }
        // A one-byte secret: shares of two bytes.
        let shares = split(&[0x42], 2, 2).unwrap();
        assert_eq!(&combine(&shares).unwrap()[..], &[0x42]);
    }

    #[test]
    fn m10_combine_refuses_what_cannot_be_shares() {
        let shares = split(b"secret", 3, 2).unwrap();
        let err = |s: &[Zeroizing<Vec<u8>>]| combine(s).err();
        assert_eq!(
            err(&shares[..1]).as_deref(),
            Some("less than two parts cannot be used to reconstruct the secret")
        );
        let mut short = shares[1].clone();
        short.remove(0);
        assert_eq!(
            err(&[shares[0].clone(), short]).as_deref(),
            Some("all parts must be the same length")
        );
        let one = Zeroizing::new(vec![1u8]);
        assert_eq!(
            err(&[one.clone(), Zeroizing::new(vec![2u8])]).as_deref(),
            Some("all parts must be the same length")
        );
        assert_eq!(
            err(&[shares[0].clone(), shares[1].clone(), shares[0].clone()]).as_deref(),
            Some("duplicate part detected")
        );
    }

    proptest::proptest! {
        #[test]
        fn split_combine(secret in proptest::collection::vec(proptest::num::u8::ANY, 1..40), parts in 2usize..6) {
            let shares = split(&secret, parts, 2).unwrap();
            let pair = [shares[parts - 1].clone(), shares[0].clone()];
            proptest::prop_assert_eq!(&combine(&pair).unwrap()[..], &secret[..]);
        }
    }
}
