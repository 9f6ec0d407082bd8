//! A fake AWS KMS (and STS `AssumeRole`) on 127.0.0.1 for tests and the
//! KMS benchmark: it answers `TrentService.Encrypt` and `Decrypt` (the
//! awsJson1_1 protocol the SDK speaks), counts every call, and waits a
//! configurable delay before each answer, as a distant KMS would. Requests
//! are not authenticated (signatures are ignored).
//!
//! A ciphertext is `fakekms1`, then the key id and the encryption context
//! (length-prefixed), then the plaintext masked byte-wise: reversible by
//! this server only for the same key id and context, so a wrong context
//! fails as real KMS fails (`InvalidCiphertextException`). [`wrap`] makes
//! the same ciphertext without a server, to build test files.
//!
//! Only the standard library: one thread per connection (HTTP/1.1 with
//! keep-alive, `Content-Length` bodies), so concurrent calls overlap their
//! delays as they would against a real endpoint.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAGIC: &[u8] = b"fakekms1";
const MASK: u8 = 0x5a;

/// A running fake KMS (threads end with the process).
pub struct FakeKms {
    addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    calls: Mutex<HashMap<String, usize>>,
    delay_ms: AtomicU64,
}

impl FakeKms {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        Self::serve_on(listener, delay)
    }

    /// Serves on `listener` from a background thread.
    pub fn serve_on(listener: TcpListener, delay: Duration) -> Self {
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State::default());
        state.delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || connection(stream, &state));
            }
        });
        Self { addr, state }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_KMS` (and `_STS`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many calls of `operation` (`Encrypt`, `Decrypt`, `AssumeRole`)
    /// were answered so far.
    pub fn calls(&self, operation: &str) -> usize {
        self.state
            .calls
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }
}

/// The ciphertext (base64, as in a sops `enc` field) this server makes
/// for `plaintext` under `key_id` and `context`.
pub fn wrap(key_id: &str, context: &BTreeMap<String, String>, plaintext: &[u8]) -> String {
    base64_encode(&seal(key_id, context, plaintext))
}

fn seal(key_id: &str, context: &BTreeMap<String, String>, plaintext: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for part in [key_id.as_bytes(), canonical(context).as_bytes()] {
        out.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend(plaintext.iter().map(|b| b ^ MASK));
    out
}

/// The key id and context a ciphertext is bound to, and its plaintext.
fn open(blob: &[u8]) -> Option<(String, String, Vec<u8>)> {
    let mut rest = blob.strip_prefix(MAGIC)?;
    let mut parts = Vec::new();
    for _ in 0..2 {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        parts.push(String::from_utf8(rest.get(4..4 + len)?.to_vec()).ok()?);
        rest = &rest[4 + len..];
    }
    let plain = rest.iter().map(|b| b ^ MASK).collect();
    let context = parts.pop()?;
    Some((parts.pop()?, context, plain))
}

fn canonical(context: &BTreeMap<String, String>) -> String {
    context
        .iter()
        .map(|(k, v)| format!("{}={}", k.len(), k) + &format!("{}={}", v.len(), v))
        .collect::<Vec<_>>()
        .join(";")
}

/// One connection: requests until the client closes it.
fn connection(stream: TcpStream, state: &State) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some((headers, body)) = read_request(&mut reader) else {
            return;
        };
        let (status, content_type, reply) = answer(&headers, &body, state);
        // One write: headers and body in two would wait out the client's
        // delayed ACK (Nagle), some 40 ms per call.
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: fake\r\n\r\n{reply}",
            reply.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The request line and headers (names lower-cased; the request line under
/// ""), and the body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut headers = HashMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    headers.insert(String::new(), line.trim().to_owned());
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

type Reply = (&'static str, &'static str, String);

fn answer(headers: &HashMap<String, String>, body: &[u8], state: &State) -> Reply {
    let body = String::from_utf8_lossy(body);
    let request_line = headers.get("").map(String::as_str).unwrap_or("");
    // `GET /calls`: the counts, for scripts.
    if request_line.starts_with("GET ") {
        let calls = state.calls.lock().unwrap();
        let mut names: Vec<_> = calls.iter().collect();
        names.sort();
        let text = names
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect::<Vec<_>>()
            .join(",");
        return ("200 OK", "application/json", format!("{{{text}}}"));
    }
    let operation = match headers.get("x-amz-target") {
        Some(target) => target.rsplit('.').next().unwrap_or("").to_owned(),
        None if body.contains("Action=AssumeRole") => "AssumeRole".to_owned(),
        None => String::new(),
    };
    *state
        .calls
        .lock()
        .unwrap()
        .entry(operation.clone())
        .or_default() += 1;
    std::thread::sleep(Duration::from_millis(state.delay_ms.load(Ordering::SeqCst)));
    match operation.as_str() {
        "Encrypt" => encrypt(&body),
        "Decrypt" => decrypt(&body),
        "AssumeRole" => assume_role(),
        _ => error("UnsupportedOperationException", "not supported by the fake"),
    }
}

fn error(kind: &str, message: &str) -> Reply {
    (
        "400 Bad Request",
        "application/x-amz-json-1.1",
        format!("{{\"__type\":\"{kind}\",\"message\":\"{message}\"}}"),
    )
}

fn ok(json: String) -> Reply {
    ("200 OK", "application/x-amz-json-1.1", json)
}

fn encrypt(body: &str) -> Reply {
    let Some(Json::Object(request)) = Json::parse(body) else {
        return error("SerializationException", "bad request");
    };
    let (Some(key_id), Some(plain)) = (
        request.get("KeyId").and_then(Json::as_str),
        request
            .get("Plaintext")
            .and_then(Json::as_str)
            .and_then(base64_decode),
    ) else {
        return error("ValidationException", "KeyId and Plaintext are required");
    };
    let blob = seal(key_id, &context_of(&request), &plain);
    ok(format!(
        "{{\"CiphertextBlob\":\"{}\",\"KeyId\":\"{key_id}\",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}}",
        base64_encode(&blob)
    ))
}

fn decrypt(body: &str) -> Reply {
    let Some(Json::Object(request)) = Json::parse(body) else {
        return error("SerializationException", "bad request");
    };
    let Some((key_id, context, plain)) = request
        .get("CiphertextBlob")
        .and_then(Json::as_str)
        .and_then(base64_decode)
        .and_then(|blob| open(&blob))
    else {
        return error(
            "InvalidCiphertextException",
            "not a ciphertext of this server",
        );
    };
    if context != canonical(&context_of(&request)) {
        return error("InvalidCiphertextException", "wrong encryption context");
    }
    if request
        .get("KeyId")
        .and_then(Json::as_str)
        .is_some_and(|k| k != key_id)
    {
        return error("IncorrectKeyException", "the ciphertext is for another key");
    }
    ok(format!(
        "{{\"Plaintext\":\"{}\",\"KeyId\":\"{key_id}\",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}}",
        base64_encode(&plain)
    ))
}

fn assume_role() -> Reply {
    (
        "200 OK",
        "text/xml",
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
         <Credentials><AccessKeyId>ASIAFAKE</AccessKeyId><SecretAccessKey>fake</SecretAccessKey>\
         <SessionToken>fake</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>AROAFAKE:sops</AssumedRoleId>\
         <Arn>arn:aws:sts::111122223333:assumed-role/fake/sops</Arn></AssumedRoleUser>\
         </AssumeRoleResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>\
         </AssumeRoleResponse>"
            .to_owned(),
    )
}

fn context_of(request: &BTreeMap<String, Json>) -> BTreeMap<String, String> {
    match request.get("EncryptionContext") {
        Some(Json::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Just enough JSON for KMS requests.
#[derive(Debug)]
enum Json {
    Str(String),
    Object(BTreeMap<String, Json>),
    Other,
}

impl Json {
    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let mut chars = text.chars().peekable();
        let value = Self::value(&mut chars)?;
        Some(value)
    }

    fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    }

    fn value(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Self> {
        Self::skip_ws(chars);
        match chars.peek()? {
            '"' => Self::string(chars).map(Self::Str),
            '{' => {
                chars.next();
                let mut map = BTreeMap::new();
                loop {
                    Self::skip_ws(chars);
                    match chars.peek()? {
                        '}' => {
                            chars.next();
                            return Some(Self::Object(map));
                        }
                        ',' => {
                            chars.next();
                        }
                        _ => {
                            let key = Self::string(chars)?;
                            Self::skip_ws(chars);
                            (chars.next()? == ':').then_some(())?;
                            map.insert(key, Self::value(chars)?);
                        }
                    }
                }
            }
            _ => {
                // Numbers, booleans, null (KMS requests hold no arrays).
                while chars
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
                {
                    chars.next();
                }
                Some(Self::Other)
            }
        }
    }

    fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        Self::skip_ws(chars);
        (chars.next()? == '"').then_some(())?;
        let mut out = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut n, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        n = n << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((n >> bits) as u8);
            n &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for len in 0..10 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        assert_eq!(base64_decode("Zm9vYmE=").unwrap(), b"fooba");
    }

    #[test]
    fn ciphertexts_are_bound_to_key_and_context() {
        let ctx = BTreeMap::from([("app".to_owned(), "x".to_owned())]);
        let blob = seal("arn:k", &ctx, b"secret");
        let (key, context, plain) = open(&blob).unwrap();
        assert_eq!((key.as_str(), plain.as_slice()), ("arn:k", &b"secret"[..]));
        assert_eq!(context, canonical(&ctx));
        assert_ne!(context, canonical(&BTreeMap::new()));
        assert!(!blob.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn requests_parse() {
        let Some(Json::Object(r)) = Json::parse(
            r#"{"KeyId": "arn:k", "Plaintext":"c2VjcmV0", "EncryptionContext": {"a":"b\"c"}, "N": 1}"#,
        ) else {
            panic!()
        };
        assert_eq!(r["KeyId"].as_str(), Some("arn:k"));
        assert_eq!(context_of(&r)["a"], "b\"c");
    }
}
