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

    proptest::proptest! {
        #[test]
        fn split_combine(secret in proptest::collection::vec(proptest::num::u8::ANY, 1..40), parts in 2usize..6) {
            let shares = split(&secret, parts, 2).unwrap();
            let pair = [shares[parts - 1].clone(), shares[0].clone()];
            proptest::prop_assert_eq!(&combine(&pair).unwrap()[..], &secret[..]);
        }
    }
}
