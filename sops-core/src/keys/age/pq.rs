//! age's hybrid post-quantum recipient type (age 1.3, sops 3.12): `age1pq1…`
//! recipients, `AGE-SECRET-KEY-PQ-1…` identities and their `mlkem768x25519`
//! stanza, as c2sp.org/age specifies them.
//!
//! **Stop-gap.** The `age` crate (0.12.1) has no native type for it yet; this
//! module builds one on its public [`age::Recipient`] and [`age::Identity`]
//! traits, from crates age itself depends on (ml-kem, x25519-dalek, sha3,
//! hpke). When an age release ships the type, swap `PqRecipient` /
//! `PqIdentity` for it and delete this file: nothing outside `keys/age/`
//! sees the types.
//!
//! The pieces, all from the two specs (no new cryptography here):
//!
//! * the KEM is MLKEM768-X25519 (HPKE KEM id 0x647a), i.e. X-Wing
//!   (draft-connolly-cfrg-xwing-kem): the 32-byte seed expands with SHAKE256
//!   into ML-KEM-768's `d ‖ z` and an X25519 scalar; the shared secret is
//!   `SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\")`;
//! * the file key is sealed with HPKE base mode, HKDF-SHA256,
//!   ChaCha20Poly1305, info `age-encryption.org/mlkem768x25519`, empty aad;
//! * stanza `-> mlkem768x25519 <base64 enc (1120 bytes)>`, body 32 bytes;
//! * identity = the seed, Bech32 with HRP `AGE-SECRET-KEY-PQ-`; recipient =
//!   ML-KEM encapsulation key ‖ X25519 public key (1216 bytes), Bech32 with
//!   HRP `age1pq` (no Bech32 length limit, as age encodes it).
//!
//! Every C2SP CCTV `hybrid*` vector runs against [`PqIdentity`] (tests.rs).

use std::collections::HashSet;
use std::fmt;

use age::secrecy::ExposeSecret;
use age::{DecryptError, EncryptError};
use age_core::format::{FileKey, Stanza};
use age_core::primitives::{bech32_decode, bech32_encode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hpke::generic_array::{GenericArray, typenum};
use hpke::kem::SharedSecret;
use hpke::{Deserializable, HpkeError, Serializable};
use ml_kem::kem::{Decapsulate, Encapsulate};
use ml_kem::{EncodedSizeUser, KemCore, MlKem768};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::{Digest, Sha3_256, Shake256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

/// The stanza's type (its first argument).
pub(crate) const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE `info`.
const INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// The label age puts on files with this stanza, so that age refuses to mix
/// it with classic recipients in one header.
const POST_QUANTUM_LABEL: &str = "postquantum";
const RECIPIENT_HRP: &str = "age1pq";
const IDENTITY_HRP: &str = "AGE-SECRET-KEY-PQ-";
/// The recipient's prefix, which selects this type when parsing.
pub(crate) const RECIPIENT_PREFIX: &str = "age1pq1";
/// The identity's prefix, which selects this type when parsing.
pub(crate) const IDENTITY_PREFIX: &str = "AGE-SECRET-KEY-PQ-1";

/// X-Wing's domain separator, `\.//^\`.
const XWING_LABEL: &[u8] = b"\\.//^\\";
const KEM_ID: u16 = 0x647a;
const SEED_LEN: usize = 32;
const X25519_LEN: usize = 32;
const EK_M_LEN: usize = 1184;
const CT_M_LEN: usize = 1088;
const PUBLIC_LEN: usize = EK_M_LEN + X25519_LEN;
const ENC_LEN: usize = CT_M_LEN + X25519_LEN;
/// A sealed 16-byte file key plus its 16-byte tag.
const BODY_LEN: usize = 32;
const FILE_KEY_LEN: usize = 16;
/// ML-KEM's modulus: every 12-bit coefficient of an encapsulation key is
/// below it (FIPS 203 §7.2, the check Go's age makes when parsing).
const Q: u16 = 3329;

type EkM = <MlKem768 as KemCore>::EncapsulationKey;
type DkM = <MlKem768 as KemCore>::DecapsulationKey;
type EkMSize = <EkM as EncodedSizeUser>::EncodedSize;
type CtMSize = <MlKem768 as KemCore>::CiphertextSize;

/// MLKEM768-X25519 as an `hpke::Kem`.
struct XWing;

/// The decapsulation key: the seed and what it expands to. The seed is wiped
/// on drop, as are ML-KEM's and x25519-dalek's own secrets.
#[derive(Clone)]
struct SecretKey {
    seed: Zeroizing<[u8; SEED_LEN]>,
    dk_m: DkM,
    sk_x: StaticSecret,
    public: PublicKey,
}

#[derive(Clone, PartialEq)]
struct PublicKey {
    ek_m: EkM,
    pk_x: [u8; X25519_LEN],
}

#[derive(Clone)]
struct EncappedKey {
    ct_m: ml_kem::Ciphertext<MlKem768>,
    ct_x: [u8; X25519_LEN],
}

impl SecretKey {
    fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let mut expanded = Zeroizing::new([0u8; 96]);
        Shake256::default()
            .chain(seed)
            .finalize_xof()
            .read(&mut expanded[..]);
        let mut d = Zeroizing::new([0u8; 32]);
        let mut z = Zeroizing::new([0u8; 32]);
        let mut x = Zeroizing::new([0u8; 32]);
        d.copy_from_slice(&expanded[..32]);
        z.copy_from_slice(&expanded[32..64]);
        x.copy_from_slice(&expanded[64..]);
        let (dk_m, ek_m) = MlKem768::generate_deterministic(&(*d).into(), &(*z).into());
        let sk_x = StaticSecret::from(*x);
        let pk_x = X25519Public::from(&sk_x).to_bytes();
        Self {
            seed: Zeroizing::new(*seed),
            dk_m,
            sk_x,
            public: PublicKey { ek_m, pk_x },
        }
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.seed[..].ct_eq(&other.seed[..]).into()
    }
}

impl Eq for SecretKey {}

impl Serializable for SecretKey {
    type OutputSize = typenum::U32;

    fn write_exact(&self, buf: &mut [u8]) {
        buf.copy_from_slice(&self.seed[..]);
    }
}

impl Deserializable for SecretKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let seed: &[u8; SEED_LEN] = encoded
            .try_into()
            .map_err(|_| HpkeError::IncorrectInputLength(SEED_LEN, encoded.len()))?;
        Ok(Self::from_seed(seed))
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(mlkem768x25519)")
    }
}

impl Serializable for PublicKey {
    type OutputSize = typenum::Sum<EkMSize, typenum::U32>;

    fn write_exact(&self, buf: &mut [u8]) {
        buf[..EK_M_LEN].copy_from_slice(&self.ek_m.as_bytes());
        buf[EK_M_LEN..].copy_from_slice(&self.pk_x);
    }
}

impl Deserializable for PublicKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        if encoded.len() != PUBLIC_LEN {
            return Err(HpkeError::IncorrectInputLength(PUBLIC_LEN, encoded.len()));
        }
        let (ek_m, pk_x) = encoded.split_at(EK_M_LEN);
        // The first 1152 bytes are three polynomials of 256 12-bit
        // coefficients; the last 32 bytes are the public seed ρ.
        let reduced = ek_m[..EK_M_LEN - 32].chunks_exact(3).all(|b| {
            let lo = u16::from(b[0]) | (u16::from(b[1] & 0x0f) << 8);
            let hi = u16::from(b[1] >> 4) | (u16::from(b[2]) << 4);
            lo < Q && hi < Q
        });
        if !reduced {
            return Err(HpkeError::ValidationError);
        }
        let ek_m = ml_kem::Encoded::<EkM>::try_from(ek_m)
            .map_err(|_| HpkeError::ValidationError)?;
        let pk_x = pk_x.try_into().map_err(|_| HpkeError::ValidationError)?;
        Ok(Self {
            ek_m: EkM::from_bytes(&ek_m),
            pk_x,
        })
    }
}

impl Serializable for EncappedKey {
    type OutputSize = typenum::Sum<CtMSize, typenum::U32>;

    fn write_exact(&self, buf: &mut [u8]) {
        buf[..CT_M_LEN].copy_from_slice(&self.ct_m);
        buf[CT_M_LEN..].copy_from_slice(&self.ct_x);
    }
}

impl Deserializable for EncappedKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        if encoded.len() != ENC_LEN {
            return Err(HpkeError::IncorrectInputLength(ENC_LEN, encoded.len()));
        }
        let (ct_m, ct_x) = encoded.split_at(CT_M_LEN);
        Ok(Self {
            ct_m: ml_kem::Ciphertext::<MlKem768>::try_from(ct_m)
                .map_err(|_| HpkeError::ValidationError)?,
            ct_x: ct_x.try_into().map_err(|_| HpkeError::ValidationError)?,
        })
    }
}

/// X-Wing's combiner.
fn combine(
    ss_m: &[u8],
    ss_x: &[u8],
    ct_x: &[u8],
    pk_x: &[u8],
) -> GenericArray<u8, typenum::U32> {
    Digest::chain_update(Sha3_256::new(), ss_m)
        .chain_update(ss_x)
        .chain_update(ct_x)
        .chain_update(pk_x)
        .chain_update(XWING_LABEL)
        .finalize()
}

/// True when an X25519 output is all zeros (a low-order peer point), which
/// age refuses (its `hybrid_low_order` / `hybrid_identity` vectors).
fn all_zero(bytes: &[u8; 32]) -> bool {
    bytes.iter().fold(0u8, |acc, b| acc | b).ct_eq(&0).into()
}

impl hpke::Kem for XWing {
    type PublicKey = PublicKey;
    type PrivateKey = SecretKey;
    type EncappedKey = EncappedKey;
    type NSecret = typenum::U32;
    const KEM_ID: u16 = KEM_ID;

    fn sk_to_pk(sk: &SecretKey) -> PublicKey {
        sk.public.clone()
    }

    /// HPKE's `DeriveKeyPair` for the hybrid KEMs: a 32-byte seed from
    /// SHAKE256 over the labelled input. age never calls it (an age
    /// identity *is* the seed); it exists because the trait asks for it.
    fn derive_keypair(ikm: &[u8]) -> (SecretKey, PublicKey) {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        let label = b"DeriveKeyPair";
        Shake256::default()
            .chain(ikm)
            .chain(b"HPKE-v1")
            .chain(b"KEM")
            .chain(KEM_ID.to_be_bytes())
            .chain((label.len() as u16).to_be_bytes())
            .chain(label)
            .chain((SEED_LEN as u16).to_be_bytes())
            .finalize_xof_into(&mut seed[..]);
        let sk = SecretKey::from_seed(&seed);
        let pk = sk.public.clone();
        (sk, pk)
    }

    fn decap(
        sk: &SecretKey,
        pk_sender_id: Option<&PublicKey>,
        enc: &EncappedKey,
    ) -> Result<SharedSecret<Self>, HpkeError> {
        // age uses base mode only; there is no authenticated X-Wing.
        if pk_sender_id.is_some() {
            return Err(HpkeError::DecapError);
        }
        let mut ss_m = sk
            .dk_m
            .decapsulate(&enc.ct_m)
            .map_err(|_| HpkeError::DecapError)?;
        let ss_x = sk.sk_x.diffie_hellman(&X25519Public::from(enc.ct_x));
        let ss = combine(&ss_m, ss_x.as_bytes(), &enc.ct_x, &sk.public.pk_x);
        ss_m[..].zeroize();
        if all_zero(ss_x.as_bytes()) {
            return Err(HpkeError::DecapError);
        }
        Ok(SharedSecret(ss))
    }

    fn encap<R: CryptoRng + RngCore>(
        pk: &PublicKey,
        sender_id_keypair: Option<(&SecretKey, &PublicKey)>,
        csprng: &mut R,
    ) -> Result<(SharedSecret<Self>, EncappedKey), HpkeError> {
        if sender_id_keypair.is_some() {
            return Err(HpkeError::EncapError);
        }
        let (ct_m, mut ss_m) = pk
            .ek_m
            .encapsulate(csprng)
            .map_err(|_| HpkeError::EncapError)?;
        let mut ephemeral = Zeroizing::new([0u8; 32]);
        csprng.fill_bytes(&mut ephemeral[..]);
        let ephemeral = StaticSecret::from(*ephemeral);
        let ct_x = X25519Public::from(&ephemeral).to_bytes();
        let ss_x = ephemeral.diffie_hellman(&X25519Public::from(pk.pk_x));
        let ss = combine(&ss_m, ss_x.as_bytes(), &ct_x, &pk.pk_x);
        ss_m[..].zeroize();
        if all_zero(ss_x.as_bytes()) {
            return Err(HpkeError::EncapError);
        }
        Ok((SharedSecret(ss), EncappedKey { ct_m, ct_x }))
    }
}

/// An `age1pq1…` recipient.
#[derive(Clone)]
pub(crate) struct PqRecipient(PublicKey);

impl std::str::FromStr for PqRecipient {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        bech32_decode(
            s,
            |_| "invalid Bech32 encoding",
            |hrp| {
                (hrp.as_str() == RECIPIENT_HRP)
                    .then_some(())
                    .ok_or("incorrect HRP")
            },
            |_, bytes| {
                PublicKey::from_bytes(&bytes.collect::<Vec<u8>>())
                    .map(Self)
                    .map_err(|_| "invalid mlkem768x25519 public key")
            },
        )
    }
}

impl fmt::Display for PqRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = bech32::Hrp::parse_unchecked(RECIPIENT_HRP);
        f.write_str(&bech32_encode(hrp, &self.0.to_bytes()))
    }
}

impl fmt::Debug for PqRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PqRecipient({self})")
    }
}

impl age::Recipient for PqRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        let (enc, body) = hpke::single_shot_seal::<
            hpke::aead::ChaCha20Poly1305,
            hpke::kdf::HkdfSha256,
            XWing,
            _,
        >(
            &hpke::OpModeS::Base,
            &self.0,
            INFO,
            file_key.expose_secret(),
            &[],
            &mut OsRng,
        )
        // Only a recipient whose X25519 half is a low-order point gets here.
        .map_err(|_| {
            EncryptError::Io(std::io::Error::other(
                "invalid mlkem768x25519 recipient: its X25519 key is a low-order point",
            ))
        })?;
        let stanza = Stanza {
            tag: STANZA_TAG.to_owned(),
            args: vec![STANDARD_NO_PAD.encode(enc.to_bytes())],
            body,
        };
        Ok((
            vec![stanza],
            HashSet::from([POST_QUANTUM_LABEL.to_owned()]),
        ))
    }
}

/// An `AGE-SECRET-KEY-PQ-1…` identity. Its seed and expanded keys are wiped
/// on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub(crate) struct PqIdentity(SecretKey);

impl PqIdentity {
    /// A fresh identity: 32 bytes from the OS RNG, as age-keygen -pq does.
    pub(crate) fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        OsRng.fill_bytes(&mut seed[..]);
        Self(SecretKey::from_seed(&seed))
    }

    /// Parses `AGE-SECRET-KEY-PQ-1…` (upper case, as age writes it).
    /// Errors never quote the input.
    pub(crate) fn parse(s: &str) -> Result<Self, &'static str> {
        bech32_decode(
            s,
            |_| "invalid Bech32 encoding",
            |hrp| {
                (hrp.as_str() == IDENTITY_HRP)
                    .then_some(())
                    .ok_or("incorrect HRP")
            },
            |_, bytes| {
                let mut seed = Zeroizing::new([0u8; SEED_LEN]);
                let mut len = 0usize;
                for byte in bytes {
                    if len < SEED_LEN {
                        seed[len] = byte;
                    }
                    len += 1;
                }
                if len != SEED_LEN {
                    return Err("incorrect identity length");
                }
                Ok(Self(SecretKey::from_seed(&seed)))
            },
        )
    }

    /// The identity in age's encoding (upper-case Bech32).
    pub(crate) fn to_secret_string(&self) -> Zeroizing<String> {
        let hrp = bech32::Hrp::parse_unchecked(IDENTITY_HRP);
        let mut lower = bech32_encode(hrp, &self.0.seed[..]);
        let upper = Zeroizing::new(lower.to_uppercase());
        lower.zeroize();
        upper
    }

    pub(crate) fn to_public(&self) -> PqRecipient {
        PqRecipient(self.0.public.clone())
    }
}

impl fmt::Debug for PqIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PqIdentity(..)")
    }
}

impl age::Identity for PqIdentity {
    /// `None` for other stanza types and for stanzas sealed to another key;
    /// `Some(Err(InvalidHeader))` for malformed ones (wrong argument count,
    /// non-canonical base64, lengths) and for a low-order X25519 share, as
    /// the spec and the CCTV vectors require.
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let [arg] = stanza.args.as_slice() else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        // Canonical base64 only: the engine refuses padding and non-zero
        // trailing bits.
        let enc = match STANDARD_NO_PAD.decode(arg) {
            Ok(enc) if enc.len() == ENC_LEN => enc,
            _ => return Some(Err(DecryptError::InvalidHeader)),
        };
        if stanza.body.len() != BODY_LEN {
            return Some(Err(DecryptError::InvalidHeader));
        }
        let Ok(enc) = EncappedKey::from_bytes(&enc) else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        let opened = hpke::single_shot_open::<
            hpke::aead::ChaCha20Poly1305,
            hpke::kdf::HkdfSha256,
            XWing,
        >(
            &hpke::OpModeR::Base,
            &self.0,
            &enc,
            INFO,
            &stanza.body,
            &[],
        );
        match opened {
            Ok(plain) => {
                let plain = Zeroizing::new(plain);
                if plain.len() != FILE_KEY_LEN {
                    return Some(Err(DecryptError::InvalidHeader));
                }
                Some(Ok(FileKey::init_with_mut(|key| {
                    key.copy_from_slice(&plain);
                })))
            }
            Err(HpkeError::DecapError) => Some(Err(DecryptError::InvalidHeader)),
            // Sealed to another key: not ours to judge.
            Err(_) => None,
        }
    }
}

#[cfg(test)]
#[path = "pq_tests.rs"]
mod tests;
