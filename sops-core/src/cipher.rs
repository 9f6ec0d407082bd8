//! The value codec: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
//!
//! AES-256-GCM with sops' 32-byte IV (GCM derives the counter block through
//! GHASH for IVs that are not 12 bytes), the AAD being the value's key path.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::{U16, U32};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::data_key::DataKey;
use crate::numfmt;
use crate::tree::{Time, Value};

type Gcm32 = AesGcm<Aes256, U32>;

/// Why a value could not be decrypted or encrypted. Never carries plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CipherError {
    #[error("input string does not match sops' data format")]
    Format,
    #[error("could not decrypt with AES_GCM: message authentication failed")]
    Authentication,
    #[error("value of type {0} cannot be parsed from its decrypted text")]
    BadPlaintext(&'static str),
    #[error("unknown value type {0:?}")]
    UnknownType(String),
    #[error("type:bytes values are not supported")]
    BytesType,
    /// A time whose offset is a day or more (see [`Time::zone_hour_in_range`]).
    #[error("Time.MarshalText: timezone hour outside of range [0,23]")]
    TimeZoneOutOfRange,
}

/// The parts of an `ENC[…]` string, still base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncParts {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub kind: String,
}

/// The start of every encrypted sops value, whatever its type.
pub const ENC_PREFIX: &str = "ENC[AES256_GCM,";

/// True if an encrypted value occurs anywhere in `bytes` (a file whose
/// `sops` block was removed, or one embedded in other data).
pub fn contains_encrypted_value(bytes: &[u8]) -> bool {
    let prefix = ENC_PREFIX.as_bytes();
    bytes.windows(prefix.len()).any(|w| w == prefix)
}

/// True if `s` looks like an encrypted sops value (the prefix sops matches).
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,data:")
}

/// Parses `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`. Like sops' regex the
/// match is anchored at the start only and greedy, so trailing text after
/// `]` is ignored.
pub fn parse_enc(s: &str) -> Result<EncParts, CipherError> {
    let (data, iv, tag, kind) = split_enc(s)?;
    let decode = |t: &str| STANDARD.decode(t).map_err(|_| CipherError::Format);
    Ok(EncParts {
        data: decode(data)?,
        iv: decode(iv)?,
        tag: decode(tag)?,
        kind: kind.to_owned(),
    })
}

/// The last occurrence of `needle` (which starts with `,`) in `hay`. The
/// fields sit at the end of a value and base64 has no comma, so the last
/// comma or the one before it is the field (a vectorised scan from the
/// end; the standard library's two-way searcher costs more to set up).
fn rfind_field(hay: &[u8], needle: &[u8]) -> Option<usize> {
    debug_assert_eq!(needle.first(), Some(&b','));
    memchr::memrchr_iter(b',', hay).find(|&i| hay[i..].starts_with(needle))
}

/// The base64 texts of data, IV and tag, and the type.
type Parts<'a> = (&'a str, &'a str, &'a str, &'a str);

/// The base64 texts of data, IV and tag, and the type, as [`parse_enc`]
/// splits them (still encoded).
fn split_enc(s: &str) -> Result<Parts<'_>, CipherError> {
    let rest = s
        .strip_prefix("ENC[AES256_GCM,data:")
        .ok_or(CipherError::Format)?;
    // Greedy `(.+)` groups: the last `,type:` before a `]`, then the last
    // `,tag:` and `,iv:` before it. (Every cut is at an ASCII byte, so a
    // char boundary.)
    let type_pos = rfind_field(rest.as_bytes(), b",type:").ok_or(CipherError::Format)?;
    let after_type = &rest[type_pos + 6..];
    let close = after_type.rfind(']').ok_or(CipherError::Format)?;
    let kind = &after_type[..close];
    let head = &rest[..type_pos];
    let tag_pos = rfind_field(head.as_bytes(), b",tag:").ok_or(CipherError::Format)?;
    let tag = &head[tag_pos + 5..];
    let head = &head[..tag_pos];
    let iv_pos = rfind_field(head.as_bytes(), b",iv:").ok_or(CipherError::Format)?;
    let iv = &head[iv_pos + 4..];
    let data = &head[..iv_pos];
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return Err(CipherError::Format);
    }
    Ok((data, iv, tag, kind))
}

/// Longest base64 text decoded into a [`Small`] buffer (63 bytes at most).
const SMALL_B64: usize = 84;

/// A decoded IV or tag, on the stack.
struct Small {
    bytes: [u8; 64],
    len: usize,
}

impl Small {
    fn decode(text: &str) -> Result<Self, CipherError> {
        let mut bytes = [0u8; 64];
        let len = STANDARD
            .decode_slice(text, &mut bytes)
            .map_err(|_| CipherError::Format)?;
        Ok(Self { bytes, len })
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Encrypts and decrypts values with one data key.
pub struct ValueCipher {
    gcm32: Gcm32,
    key: Zeroizing<[u8; 32]>,
}

impl ValueCipher {
    pub fn new(key: &DataKey) -> Self {
        Self {
            gcm32: Gcm32::new(GenericArray::from_slice(key.expose())),
            key: Zeroizing::new(*key.expose()),
        }
    }

    /// Encrypts raw bytes with a given IV, returning ciphertext and tag.
    fn seal(&self, iv: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let mut buf = plaintext.to_vec();
        let tag = self
            .gcm32
            .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, &mut buf)
            .expect("AES-GCM encryption of a value cannot fail for sane lengths");
        (buf, tag.into())
    }

    /// Decrypts `data || tag` with an IV of any length (sops takes the IV
    /// length from the file). Returns the plaintext in a zeroizing buffer.
    fn open(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &[u8],
        tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        // Only the concatenation matters: GCM splits off the last 16 bytes.
        let mut joined = Zeroizing::new(Vec::with_capacity(data.len() + tag.len()));
        joined.extend_from_slice(data);
        joined.extend_from_slice(tag);
        if joined.len() < 16 {
            return Err(CipherError::Authentication);
        }
        let split = joined.len() - 16;
        let tag: [u8; 16] = joined[split..]
            .try_into()
            .map_err(|_| CipherError::Authentication)?;
        let mut buf = Zeroizing::new(joined[..split].to_vec());
        let tag = GenericArray::<u8, U16>::from(tag);
        let result = match iv.len() {
            32 => self.gcm32.decrypt_in_place_detached(
                GenericArray::from_slice(iv),
                aad,
                &mut buf,
                &tag,
            ),
            len => open_with_nonce_size(&self.key, len, iv, aad, &mut buf, &tag)?,
        };
        result.map_err(|_| CipherError::Authentication)?;
        Ok(buf)
    }

    /// Encrypts a leaf value; `iv` is drawn fresh unless given (edit/set
    /// reuse the IVs of unchanged values). Empty strings and comments are
    /// never encrypted by callers (sops writes them as they are).
    pub fn encrypt_value(
        &self,
        value: &Value,
        aad: &str,
        iv: Option<[u8; 32]>,
    ) -> Result<String, CipherError> {
        let kind = value.sops_type().ok_or(CipherError::BytesType)?;
        let plaintext = plaintext_bytes(value).ok_or(CipherError::BytesType)?;
        Ok(self.encrypt_bytes(&plaintext, kind, aad, iv))
    }

    /// Encrypts raw plaintext bytes with a given `type:` name.
    pub fn encrypt_bytes(
        &self,
        plaintext: &[u8],
        kind: &str,
        aad: &str,
        iv: Option<[u8; 32]>,
    ) -> String {
        let iv = iv.unwrap_or_else(|| {
            // IVs must be unique, not secret: a per-thread CSPRNG seeded from
            // the OS (rand's ThreadRng) avoids a system call per value. The
            // data key itself comes straight from the OS RNG.
            let mut iv = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut iv);
            iv
        });
        let (data, tag) = self.seal(&iv, aad.as_bytes(), plaintext);
        let mut out = String::with_capacity(80 + data.len() * 4 / 3);
        out.push_str("ENC[AES256_GCM,data:");
        STANDARD.encode_string(&data, &mut out);
        out.push_str(",iv:");
        STANDARD.encode_string(iv, &mut out);
        out.push_str(",tag:");
        STANDARD.encode_string(tag, &mut out);
        out.push_str(",type:");
        out.push_str(kind);
        out.push(']');
        out
    }

    /// Decrypts an `ENC[…]` string into a typed value. `type:comment` gives
    /// [`Value::Comment`]. An empty string decrypts to an empty string.
    pub fn decrypt_value(&self, enc: &str, aad: &str) -> Result<Value, CipherError> {
        if enc.is_empty() {
            return Ok(Value::Str(String::new()));
        }
        self.decrypt_parts(enc, split_enc(enc)?, aad)
    }

    /// [`decrypt_value`](Self::decrypt_value) of `enc` split by
    /// [`split_enc`].
    fn decrypt_parts(&self, enc: &str, parts: Parts<'_>, aad: &str) -> Result<Value, CipherError> {
        let (data, iv, tag, kind) = parts;
        if iv.len() > SMALL_B64 || tag.len() > SMALL_B64 {
            return self.decrypt_value_with_iv(enc, aad).map(|(v, _)| v);
        }
        self.decrypt_split(data, iv, tag, kind, aad).map(|(v, _)| v)
    }

    /// As [`decrypt_value`](Self::decrypt_value), also returning the IV (for re-use).
    pub fn decrypt_value_with_iv(
        &self,
        enc: &str,
        aad: &str,
    ) -> Result<(Value, Vec<u8>), CipherError> {
        if enc.is_empty() {
            return Ok((Value::Str(String::new()), Vec::new()));
        }
        let (data, iv, tag, kind) = split_enc(enc)?;
        if iv.len() > SMALL_B64 || tag.len() > SMALL_B64 {
            let parts = parse_enc(enc)?;
            let plain = self.open(&parts.iv, aad.as_bytes(), &parts.data, &parts.tag)?;
            return Ok((typed_from_plaintext(&parts.kind, &plain)?, parts.iv));
        }
        let (value, iv) = self.decrypt_split(data, iv, tag, kind, aad)?;
        Ok((value, iv.as_slice().to_vec()))
    }

    /// Decrypts the fields of a value split by [`split_enc`] whose IV and
    /// tag fit a [`Small`]: the value and its IV.
    fn decrypt_split(
        &self,
        data: &str,
        iv: &str,
        tag: &str,
        kind: &str,
        aad: &str,
    ) -> Result<(Value, Small), CipherError> {
        let mut buf = Zeroizing::new(Vec::with_capacity(data.len() / 4 * 3 + 3 + 16));
        let iv = self.open_split(data, iv, tag, aad, &mut buf)?;
        let value = if kind == "str" {
            // The decrypted buffer becomes the string: no copy.
            match String::from_utf8(std::mem::take(&mut *buf)) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            }
        } else {
            typed_from_plaintext(kind, &buf)?
        };
        Ok((value, iv))
    }

    /// Decodes and authenticates split fields, leaving the plaintext in
    /// `buf` (empty on entry); returns the IV.
    fn open_split(
        &self,
        data: &str,
        iv: &str,
        tag: &str,
        aad: &str,
        buf: &mut Zeroizing<Vec<u8>>,
    ) -> Result<Small, CipherError> {
        STANDARD
            .decode_vec(data, buf)
            .map_err(|_| CipherError::Format)?;
        let iv = Small::decode(iv)?;
        let tag = Small::decode(tag)?;
        let iv_bytes = iv.as_slice();
        let tag_bytes: [u8; 16] = match <[u8; 16]>::try_from(tag.as_slice()) {
            Ok(t) => t,
            Err(_) => {
                // Only the concatenation matters: GCM splits off the last 16 bytes.
                buf.extend_from_slice(tag.as_slice());
                let Some(split) = buf.len().checked_sub(16) else {
                    return Err(CipherError::Authentication);
                };
                let t = buf[split..]
                    .try_into()
                    .map_err(|_| CipherError::Authentication)?;
                // (The cut-off tail is ciphertext and tag: nothing to wipe.)
                buf.truncate(split);
                t
            }
        };
        let tag_arr = GenericArray::<u8, U16>::from(tag_bytes);
        let result = match iv_bytes.len() {
            32 => self.gcm32.decrypt_in_place_detached(
                GenericArray::from_slice(iv_bytes),
                aad.as_bytes(),
                buf,
                &tag_arr,
            ),
            len => open_with_nonce_size(&self.key, len, iv_bytes, aad.as_bytes(), buf, &tag_arr)?,
        };
        result.map_err(|_| CipherError::Authentication)?;
        Ok(iv)
    }

    /// [`decrypt_value`](Self::decrypt_value) in place: a value sops typed
    /// `str` is decrypted into `enc`'s own buffer (its `ENC[…]` text is
    /// longer than the plaintext) and `None` is returned; any other value
    /// is returned. No allocation for a string, and none on the decrypting
    /// threads, whose memory the rest of the run would not reuse.
    pub fn decrypt_in_place(&self, enc: &mut String, aad: &str) -> Result<Option<Value>, CipherError> {
        thread_local! {
            /// Decoded ciphertext, then plaintext; wiped after each value.
            static SCRATCH: std::cell::RefCell<Zeroizing<Vec<u8>>> =
                std::cell::RefCell::new(Zeroizing::new(Vec::new()));
        }
        if enc.is_empty() {
            return Ok(None);
        }
        let parts = split_enc(enc)?;
        let (data, iv, tag, kind) = parts;
        if kind != "str" || iv.len() > SMALL_B64 || tag.len() > SMALL_B64 {
            return self.decrypt_parts(enc, parts, aad).map(Some);
        }
        // As ranges, so that `enc` can be rewritten once they are read.
        let range = |part: &str| {
            let start = part.as_ptr() as usize - enc.as_ptr() as usize;
            start..start + part.len()
        };
        let (data, iv, tag) = (range(data), range(iv), range(tag));
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            let opened = self.open_split(&enc[data], &enc[iv], &enc[tag], aad, buf);
            let done = opened.map(|_| match std::str::from_utf8(buf) {
                Ok(plain) => {
                    enc.clear();
                    enc.push_str(plain);
                    None
                }
                Err(_) => Some(Value::Bytes(buf.to_vec())),
            });
            zeroize::Zeroize::zeroize(buf.as_mut_slice());
            buf.clear();
            done
        })
    }
}

/// Largest IV accepted. sops 3.11 decrypts with an IV of any non-zero
/// length (Go's `cipher.NewGCMWithNonceSize(block, len(iv))`) and writes
/// 32 bytes; older tools wrote 12. The GCM implementation needs the length
/// as a type, so each accepted length is spelled out below; 64 bytes is
/// twice what any sops writes.
pub const MAX_IV_LEN: usize = 64;

/// Decrypts with an IV of `len` bytes (1..=[`MAX_IV_LEN`]): GCM derives
/// its counter block through GHASH for every length but 12.
fn open_with_nonce_size(
    key: &[u8; 32],
    len: usize,
    iv: &[u8],
    aad: &[u8],
    buf: &mut Zeroizing<Vec<u8>>,
    tag: &GenericArray<u8, U16>,
) -> Result<Result<(), aes_gcm::Error>, CipherError> {
    use aes_gcm::aead::consts::*;
    macro_rules! sizes {
        ($($n:literal => $size:ty),* $(,)?) => {
            match len {
                $($n => AesGcm::<Aes256, $size>::new(GenericArray::from_slice(key))
                    .decrypt_in_place_detached(GenericArray::from_slice(iv), aad, &mut **buf, tag),)*
                _ => return Err(CipherError::Format),
            }
        };
    }
    Ok(sizes! {
        1 => U1, 2 => U2, 3 => U3, 4 => U4, 5 => U5, 6 => U6, 7 => U7, 8 => U8,
        9 => U9, 10 => U10, 11 => U11, 12 => U12, 13 => U13, 14 => U14, 15 => U15, 16 => U16,
        17 => U17, 18 => U18, 19 => U19, 20 => U20, 21 => U21, 22 => U22, 23 => U23, 24 => U24,
        25 => U25, 26 => U26, 27 => U27, 28 => U28, 29 => U29, 30 => U30, 31 => U31, 32 => U32,
        33 => U33, 34 => U34, 35 => U35, 36 => U36, 37 => U37, 38 => U38, 39 => U39, 40 => U40,
        41 => U41, 42 => U42, 43 => U43, 44 => U44, 45 => U45, 46 => U46, 47 => U47, 48 => U48,
        49 => U49, 50 => U50, 51 => U51, 52 => U52, 53 => U53, 54 => U54, 55 => U55, 56 => U56,
        57 => U57, 58 => U58, 59 => U59, 60 => U60, 61 => U61, 62 => U62, 63 => U63, 64 => U64,
    })
}

/// Parses decrypted plaintext as the given sops type, as sops does.
pub fn typed_from_plaintext(kind: &str, plain: &[u8]) -> Result<Value, CipherError> {
    let text = || std::str::from_utf8(plain).ok();
    Ok(match kind {
        "str" => match std::str::from_utf8(plain) {
            Ok(s) => Value::Str(s.to_owned()),
            Err(_) => Value::Bytes(plain.to_vec()),
        },
        "comment" => Value::Comment(String::from_utf8_lossy(plain).into_owned().into()),
        "int" => Value::Int(
            text()
                .and_then(numfmt::parse_go_int)
                .ok_or(CipherError::BadPlaintext("int"))?,
        ),
        "float" => Value::Float(
            text()
                .and_then(numfmt::parse_go_float)
                .ok_or(CipherError::BadPlaintext("float"))?,
        ),
        "bool" => Value::Bool(
            text()
                .and_then(numfmt::parse_go_bool)
                .ok_or(CipherError::BadPlaintext("bool"))?,
        ),
        "time" => Value::Time(
            text()
                .and_then(Time::parse_rfc3339)
                .ok_or(CipherError::BadPlaintext("time"))?,
        ),
        // sops 3.11 crashes on type:bytes; we refuse it cleanly.
        "bytes" => return Err(CipherError::BytesType),
        other => return Err(CipherError::UnknownType(other.chars().take(32).collect())),
    })
}

/// The canonical plaintext bytes of a leaf (sops-format §1.4): what gets
/// encrypted and what the MAC hashes. `None` for containers and null.
pub fn plaintext_bytes(value: &Value) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    Some(match value {
        Value::Str(s) => Cow::Borrowed(s.as_bytes()),
        Value::Comment(c) => Cow::Borrowed(c.as_bytes()),
        Value::Bytes(b) => Cow::Borrowed(b),
        Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        Value::Float(f) => Cow::Owned(numfmt::format_f(*f).into_bytes()),
        Value::Bool(true) => Cow::Borrowed(b"True"),
        Value::Bool(false) => Cow::Borrowed(b"False"),
        Value::Time(t) => Cow::Borrowed(t.as_str().as_bytes()),
        Value::Null | Value::Seq(_) | Value::Map(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bytes: [u8; 32]) -> DataKey {
        DataKey::from_slice(&bytes).unwrap()
    }

    #[test]
    fn fixed_vector_matches_reference() {
        // dependencies.md §5: key 00..1f, IV a0..bf, AAD "hello:", plaintext "world".
        let k = key(std::array::from_fn(|i| i as u8));
        let iv: [u8; 32] = std::array::from_fn(|i| 0xa0 + i as u8);
        let c = ValueCipher::new(&k);
        let enc = c
            .encrypt_value(&Value::Str("world".into()), "hello:", Some(iv))
            .unwrap();
        let parts = parse_enc(&enc).unwrap();
        assert_eq!(hex::encode(&parts.data), "ded780eaa6");
        assert_eq!(hex::encode(&parts.tag), "7cfbcc16cff600096e93e6aa1728b717");
        assert_eq!(
            c.decrypt_value(&enc, "hello:").unwrap(),
            Value::Str("world".into())
        );
        assert_eq!(
            c.decrypt_value(&enc, "other:"),
            Err(CipherError::Authentication)
        );
    }

    /// In place: a string's plaintext replaces its `ENC[…]` text; other
    /// values (and a `str` that is not UTF-8) come back as `decrypt_value`
    /// gives them; a failure leaves the text as it was.
    #[test]
    fn decrypt_in_place_agrees_with_decrypt_value() {
        let c = ValueCipher::new(&key([7; 32]));
        for value in [
            Value::Str("world".into()),
            Value::Int(42),
            Value::Bool(true),
            Value::Bytes(vec![0xff, 0xfe, 0x00]),
        ] {
            let enc = c.encrypt_value(&value, "k:", None).unwrap();
            let expected = c.decrypt_value(&enc, "k:").unwrap();
            let mut text = enc.clone();
            match c.decrypt_in_place(&mut text, "k:").unwrap() {
                None => assert_eq!(Value::Str(text), expected),
                Some(v) => {
                    assert_eq!(v, expected);
                    assert_eq!(text, enc);
                }
            }
            let mut text = enc.clone();
            assert_eq!(
                c.decrypt_in_place(&mut text, "other:"),
                Err(CipherError::Authentication)
            );
            assert_eq!(text, enc);
        }
        let mut empty = String::new();
        assert_eq!(c.decrypt_in_place(&mut empty, "k:"), Ok(None));
        assert!(empty.is_empty());
    }

    #[test]
    fn trailing_text_is_ignored_and_bad_input_rejected() {
        let k = key([7; 32]);
        let c = ValueCipher::new(&k);
        let enc = c.encrypt_value(&Value::Int(-17), "a:", None).unwrap();
        assert_eq!(
            c.decrypt_value(&format!("{enc}junk"), "a:").unwrap(),
            Value::Int(-17)
        );
        assert_eq!(
            c.decrypt_value("ENC[AES256_GCM,data:,iv:,tag:,type:str]", "a:"),
            Err(CipherError::Format)
        );
        assert_eq!(c.decrypt_value("hello", "a:"), Err(CipherError::Format));
        assert_eq!(
            c.decrypt_value("", "a:").unwrap(),
            Value::Str(String::new())
        );
    }

    /// Encrypts `plain` under `key` with an IV of `N` bytes, as another
    /// implementation of GCM would (the reference accepts any length).
    fn seal_with<N: aes_gcm::aead::generic_array::ArrayLength<u8>>(
        key: &[u8; 32],
        iv: &[u8],
        aad: &[u8],
        plain: &[u8],
    ) -> String {
        let mut buf = plain.to_vec();
        let tag = AesGcm::<Aes256, N>::new(GenericArray::from_slice(key))
            .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, &mut buf)
            .unwrap();
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]",
            STANDARD.encode(&buf),
            STANDARD.encode(iv),
            STANDARD.encode(tag)
        )
    }

    /// issue 10: sops decrypts values with any IV length GCM accepts
    /// (`NewGCMWithNonceSize(len(iv))`); 8-byte IVs were refused here.
    #[test]
    fn r10_ivs_of_other_lengths_decrypt() {
        use aes_gcm::aead::consts::{U1, U8, U12, U16, U64};
        let raw: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        let c = ValueCipher::new(&key(raw));
        let iv: Vec<u8> = (0..64).collect();
        let cases = [
            (1, seal_with::<U1>(&raw, &iv[..1], b"a:", b"one")),
            (8, seal_with::<U8>(&raw, &iv[..8], b"a:", b"eight")),
            (12, seal_with::<U12>(&raw, &iv[..12], b"a:", b"twelve")),
            (16, seal_with::<U16>(&raw, &iv[..16], b"a:", b"sixteen")),
            (64, seal_with::<U64>(&raw, &iv, b"a:", b"sixty-four")),
        ];
        for (len, enc) in &cases {
            let (value, got_iv) = c.decrypt_value_with_iv(enc, "a:").unwrap();
            assert_eq!(got_iv.len(), *len);
            assert!(matches!(value, Value::Str(_)), "{len}");
            assert_eq!(
                c.decrypt_value(enc, "b:"),
                Err(CipherError::Authentication),
                "{len}"
            );
        }
        assert_eq!(
            c.decrypt_value(&cases[1].1, "a:").unwrap(),
            Value::Str("eight".into())
        );
        // Longer than any implementation writes: refused as malformed.
        let long = format!(
            "ENC[AES256_GCM,data:AA==,iv:{},tag:{},type:str]",
            STANDARD.encode([0u8; 65]),
            STANDARD.encode([0u8; 16])
        );
        assert_eq!(c.decrypt_value(&long, "a:"), Err(CipherError::Format));
    }

    // Tests named m10_* were added for issue 10 so that each mutant
    // `cargo mutants` makes of this file fails one of sops-core's own tests.

    #[test]
    fn m10_only_values_that_start_like_sops_values_are_encrypted() {
        assert!(is_encrypted("ENC[AES256_GCM,data:x"));
        assert!(!is_encrypted("ENC[AES256_GCM,"));
        assert!(!is_encrypted("hello"));
        assert!(contains_encrypted_value(b"a: ENC[AES256_GCM,data:"));
        assert!(!contains_encrypted_value(b"a: ENC[AES256_GCM"));
    }

    #[test]
    fn m10_every_field_of_enc_must_be_present_and_non_empty() {
        let ok = "ENC[AES256_GCM,data:AQ==,iv:Ag==,tag:Aw==,type:str]";
        assert_eq!(
            parse_enc(ok).unwrap(),
            EncParts {
                data: vec![1],
                iv: vec![2],
                tag: vec![3],
                kind: "str".into(),
            }
        );
        for bad in [
            "ENC[AES256_GCM,data:,iv:Ag==,tag:Aw==,type:str]",
            "ENC[AES256_GCM,data:AQ==,iv:,tag:Aw==,type:str]",
            "ENC[AES256_GCM,data:AQ==,iv:Ag==,tag:,type:str]",
            "ENC[AES256_GCM,data:AQ==,iv:Ag==,tag:Aw==,type:]",
            "ENC[AES256_GCM,data:AQ==,iv:Ag==,tag:Aw==,type:str",
            "ENC[AES256_GCM,data:AQ==,iv:Ag==,tag:Aw==]",
            "ENC[AES256_GCM,data:AQ==,iv:Ag==,type:str]",
            "ENC[AES256_GCM,data:AQ==,tag:Aw==,type:str]",
            "ENC[AES256_GCM,data:A,iv:Ag==,tag:Aw==,type:str]",
            "ENC[AES256_GCM,data:AQ==,iv:A,tag:Aw==,type:str]",
            "ENC[AES256_GCM,data:AQ==,iv:Ag==,tag:A,type:str]",
        ] {
            assert_eq!(parse_enc(bad), Err(CipherError::Format), "{bad}");
        }
    }

    #[test]
    fn m10_open_takes_the_tag_from_the_last_16_bytes() {
        let c = ValueCipher::new(&key([9; 32]));
        let iv = [4u8; 32];
        // An empty plaintext: data is empty, the tag alone is 16 bytes.
        let (data, tag) = c.seal(&iv, b"a:", b"");
        assert!(data.is_empty());
        assert_eq!(&c.open(&iv, b"a:", &data, &tag).unwrap()[..], b"");
        // Fewer than 16 bytes in all cannot hold a tag.
        assert_eq!(
            c.open(&iv, b"a:", &[], &tag[..15]).err(),
            Some(CipherError::Authentication)
        );
        assert_eq!(
            c.open(&iv, b"a:", &[], &[]).err(),
            Some(CipherError::Authentication)
        );
        // Where data ends and the tag begins does not matter.
        let (data, tag) = c.seal(&iv, b"a:", b"secret");
        let mut all = data.clone();
        all.extend_from_slice(&tag);
        assert_eq!(
            &c.open(&iv, b"a:", &all[..3], &all[3..]).unwrap()[..],
            b"secret"
        );
        // An IV of another length than the one sealed with fails.
        assert_eq!(
            c.open(&iv[..12], b"a:", &data, &tag).err(),
            Some(CipherError::Authentication)
        );
    }

    /// The string path (fields decoded into the buffer decrypted in place)
    /// reads every split of data and tag as `open` does: the tag is the
    /// last 16 bytes of their concatenation, whatever the texts' lengths
    /// (also past the stack buffers, where the general path is taken).
    #[test]
    fn decrypting_a_value_splits_data_and_tag_as_open_does() {
        let c = ValueCipher::new(&key([5; 32]));
        let iv = [6u8; 32];
        let (data, tag) = c.seal(
            &iv,
            b"k:",
            b"a secret of some length, more than sixty-four bytes long in all",
        );
        let mut all = data.clone();
        all.extend_from_slice(&tag);
        let enc = |d: &[u8], t: &[u8], kind: &str| {
            format!(
                "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
                STANDARD.encode(d),
                STANDARD.encode(iv),
                STANDARD.encode(t)
            )
        };
        let want =
            Value::Str("a secret of some length, more than sixty-four bytes long in all".into());
        for cut in [
            1,
            10,
            all.len() - 17,
            all.len() - 16,
            all.len() - 15,
            all.len() - 1,
        ] {
            let text = enc(&all[..cut], &all[cut..], "str");
            assert_eq!(c.decrypt_value(&text, "k:"), Ok(want.clone()), "cut {cut}");
            let (v, got_iv) = c.decrypt_value_with_iv(&text, "k:").unwrap();
            assert_eq!((v, got_iv), (want.clone(), iv.to_vec()), "cut {cut}");
        }
        // A tag text longer than the stack buffer takes the general path.
        assert!(STANDARD.encode(&all[1..]).len() > SMALL_B64);
        // Bytes that are not UTF-8 come back as bytes, as before.
        let (data, tag) = c.seal(&iv, b"k:", &[0xff, 0xfe]);
        assert_eq!(
            c.decrypt_value(&enc(&data, &tag, "str"), "k:"),
            Ok(Value::Bytes(vec![0xff, 0xfe]))
        );
        // Too short to hold a tag, a wrong AAD, a bad base64 IV.
        assert_eq!(
            c.decrypt_value(&enc(&[1], &[2], "str"), "k:"),
            Err(CipherError::Authentication)
        );
        assert_eq!(
            c.decrypt_value(&enc(&data, &tag, "str"), "x:"),
            Err(CipherError::Authentication)
        );
        let bad_iv = enc(&data, &tag, "str").replace(",iv:", ",iv:*");
        assert_eq!(c.decrypt_value(&bad_iv, "k:"), Err(CipherError::Format));
        // Other types are parsed from the text.
        let (data, tag) = c.seal(&iv, b"k:", b"42");
        assert_eq!(
            c.decrypt_value(&enc(&data, &tag, "int"), "k:"),
            Ok(Value::Int(42))
        );
    }

    #[test]
    fn m10_the_iv_is_returned_and_long_values_encrypt() {
        let c = ValueCipher::new(&key([1; 32]));
        let iv: [u8; 32] = std::array::from_fn(|i| i as u8);
        let long = "x".repeat(500);
        let enc = c
            .encrypt_value(&Value::Str(long.clone()), "k:", Some(iv))
            .unwrap();
        let (value, got) = c.decrypt_value_with_iv(&enc, "k:").unwrap();
        assert_eq!(value, Value::Str(long));
        assert_eq!(got, iv);
        assert_eq!(parse_enc(&enc).unwrap().kind, "str");
        // Fresh IVs differ.
        let a = c.encrypt_bytes(b"v", "str", "k:", None);
        let b = c.encrypt_bytes(b"v", "str", "k:", None);
        assert_ne!(parse_enc(&a).unwrap().iv, parse_enc(&b).unwrap().iv);
        assert_eq!(parse_enc(&a).unwrap().iv.len(), 32);
        for v in [Value::Null, Value::Seq(Vec::new())] {
            assert_eq!(c.encrypt_value(&v, "k:", None), Err(CipherError::BytesType));
        }
    }

    #[test]
    fn m10_every_type_decodes_as_sops_does() {
        let t = |k: &str, p: &[u8]| typed_from_plaintext(k, p);
        assert_eq!(t("str", b"a"), Ok(Value::Str("a".into())));
        assert_eq!(t("str", &[0xff, 0]), Ok(Value::Bytes(vec![0xff, 0])));
        assert_eq!(t("comment", b"c"), Ok(Value::Comment("c".into())));
        assert_eq!(t("int", b"-3"), Ok(Value::Int(-3)));
        assert_eq!(t("int", b"x"), Err(CipherError::BadPlaintext("int")));
        assert_eq!(t("float", b"0.5"), Ok(Value::Float(0.5)));
        assert_eq!(t("float", b"x"), Err(CipherError::BadPlaintext("float")));
        assert_eq!(t("bool", b"True"), Ok(Value::Bool(true)));
        assert_eq!(t("bool", b"x"), Err(CipherError::BadPlaintext("bool")));
        assert_eq!(
            t("time", b"2024-05-01T12:00:00Z"),
            Ok(Value::Time(
                Time::parse_rfc3339("2024-05-01T12:00:00Z").unwrap()
            ))
        );
        assert_eq!(t("time", b"x"), Err(CipherError::BadPlaintext("time")));
        assert_eq!(t("bytes", b"x"), Err(CipherError::BytesType));
        assert_eq!(
            t("other", b"x"),
            Err(CipherError::UnknownType("other".into()))
        );
    }

    #[test]
    fn m10_plaintext_bytes_of_every_leaf() {
        let p = |v: &Value| plaintext_bytes(v).map(|b| b.into_owned());
        assert_eq!(p(&Value::Str("s".into())), Some(b"s".to_vec()));
        assert_eq!(p(&Value::Comment("c".into())), Some(b"c".to_vec()));
        assert_eq!(p(&Value::Bytes(vec![0xff])), Some(vec![0xff]));
        assert_eq!(p(&Value::Int(-12)), Some(b"-12".to_vec()));
        assert_eq!(p(&Value::Float(0.25)), Some(b"0.25".to_vec()));
        assert_eq!(p(&Value::Bool(true)), Some(b"True".to_vec()));
        assert_eq!(p(&Value::Bool(false)), Some(b"False".to_vec()));
        let time = Time::parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(
            p(&Value::Time(time)),
            Some(b"2024-05-01T12:00:00Z".to_vec())
        );
        assert_eq!(p(&Value::Null), None);
        assert_eq!(p(&Value::Seq(Vec::new())), None);
        assert_eq!(p(&Value::Map(crate::tree::Branch::new())), None);
    }

    proptest::proptest! {
        #[test]
        fn roundtrip_strings(s in ".+", aad in "[a-z:]{0,12}") {
            let c = ValueCipher::new(&key([3; 32]));
            let enc = c.encrypt_value(&Value::Str(s.clone()), &aad, None).unwrap();
            proptest::prop_assert!(is_encrypted(&enc));
            proptest::prop_assert_eq!(c.decrypt_value(&enc, &aad).unwrap(), Value::Str(s));
        }

        #[test]
        fn roundtrip_numbers(i in proptest::num::i64::ANY, f in proptest::num::f64::NORMAL | proptest::num::f64::ZERO, b: bool) {
            let c = ValueCipher::new(&key([5; 32]));
            for v in [Value::Int(i), Value::Float(f), Value::Bool(b)] {
                let enc = c.encrypt_value(&v, "k:", None).unwrap();
                proptest::prop_assert_eq!(c.decrypt_value(&enc, "k:").unwrap(), v);
            }
        }
    }
}
