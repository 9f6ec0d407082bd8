//! HuaweiCloud credentials in the order of the SDK's basic credential
//! chain, which sops uses: the environment (`HUAWEICLOUD_SDK_AK` and
//! `HUAWEICLOUD_SDK_SK`, with `HUAWEICLOUD_SDK_PROJECT_ID` and
//! `HUAWEICLOUD_SDK_SECURITY_TOKEN`), then the credentials file (INI,
//! section `[basic]`: `ak`, `sk`, `project_id`, `security_token`). The
//! chain's last link, the ECS instance metadata service, is not used: a
//! file with no credentials of its own never borrows the machine's.

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use super::inputs::HckmsInputs;
use crate::keys::read_secret_file;

/// An access key pair (and the project its calls are for).
pub(crate) struct Credentials {
    pub ak: String,
    pub sk: Zeroizing<String>,
    pub project_id: String,
    pub security_token: Option<Zeroizing<String>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ak", &self.ak)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// Why no credentials could be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Nothing was found (each source says why): not this key's to try.
    None(String),
    /// Credentials were found but cannot be used.
    Unusable(String),
}

/// The first complete access key pair of the chain.
pub(crate) fn resolve(inputs: &HckmsInputs) -> Result<Credentials, Missing> {
    let from_env = match (&inputs.ak, &inputs.sk) {
        (Some(ak), Some(sk)) => Ok(Credentials {
            ak: ak.clone(),
            sk: sk.clone(),
            project_id: inputs.project_id.clone().unwrap_or_default(),
            security_token: inputs.security_token.clone(),
        }),
        _ => Err("HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not both set".to_owned()),
    };
    let found = match from_env {
        Ok(found) => found,
        Err(env_why) => {
            let file_why = match &inputs.credentials_file {
                None => "no credentials file".to_owned(),
                Some(file) => match from_file(file)? {
                    Ok(found) => return check(found),
                    Err(why) => why,
                },
            };
            return Err(Missing::None(format!(
                "no HuaweiCloud credentials: {env_why}; {file_why} (the instance metadata \
                 service is not used)"
            )));
        }
    };
    check(found)
}

/// The project id goes into the request path: it must be set (the SDK
/// would look it up through IAM, which is not done here) and plain.
fn check(found: Credentials) -> Result<Credentials, Missing> {
    if found.project_id.is_empty() {
        return Err(Missing::Unusable(
            "no HuaweiCloud project id: set HUAWEICLOUD_SDK_PROJECT_ID (or project_id in the \
             credentials file); looking it up through IAM is not supported"
                .to_owned(),
        ));
    }
    if !found
        .project_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || found.project_id.bytes().all(|b| b == b'.')
    {
        return Err(Missing::Unusable(format!(
            "invalid HuaweiCloud project id {:?}",
            found.project_id
        )));
    }
    Ok(found)
}

/// The `[basic]` section of the credentials file: `Ok(Ok)` with an access
/// key pair, `Ok(Err(why))` when the file has none, `Err` when it has
/// credentials this implementation cannot use.
fn from_file(file: &Path) -> Result<Result<Credentials, String>, Missing> {
    let shown = file.display();
    let text = match read_secret_file(file) {
        Ok(text) => text,
        Err(e) => return Ok(Err(format!("credentials file {shown}: {e}"))),
    };
    let Ok(text) = std::str::from_utf8(&text) else {
        return Ok(Err(format!("credentials file {shown} is not UTF-8")));
    };
    let section = basic_section(text);
    let get = |name: &str| {
        section
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    match (get("ak"), get("sk")) {
        (Some(ak), Some(sk)) => Ok(Ok(Credentials {
            ak: ak.to_owned(),
            sk: Zeroizing::new(sk.to_owned()),
            project_id: get("project_id").unwrap_or_default().to_owned(),
            security_token: get("security_token").map(|t| Zeroizing::new(t.to_owned())),
        })),
        _ if get("idp_id").is_some() && get("id_token_file").is_some() => {
            Err(Missing::Unusable(format!(
                "credentials file {shown}: federated credentials (idp_id, id_token_file) are not \
                 supported"
            )))
        }
        _ => Ok(Err(format!(
            "credentials file {shown} has no ak and sk in section [basic]"
        ))),
    }
}

/// The keys of the `[basic]` section, read as go-ini reads them: `key =
/// value` or `key: value`, `#` and `;` comment lines, a value in matching
/// quotes kept whole, an unquoted one cut at its first `#` or `;`.
fn basic_section(text: &str) -> Zeroizing<Vec<(String, String)>> {
    let mut out = Zeroizing::new(Vec::new());
    let mut in_basic = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            in_basic = rest.split(']').next().map(str::trim) == Some("basic");
            continue;
        }
        if !in_basic {
            continue;
        }
        let Some(at) = line.find(['=', ':']) else {
            continue;
        };
        let key = line[..at].trim();
        let raw = line[at + 1..].trim();
        let quoted = ['"', '\'', '`']
            .iter()
            .find(|q| raw.len() >= 2 && raw.starts_with(**q) && raw.ends_with(**q));
        let value = match quoted {
            Some(_) => &raw[1..raw.len() - 1],
            None => raw.split(['#', ';']).next().unwrap_or_default().trim(),
        };
        out.push((key.to_owned(), value.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(ak: Option<&str>, sk: Option<&str>, project: Option<&str>) -> HckmsInputs {
        HckmsInputs {
            ak: ak.map(str::to_owned),
            sk: sk.map(|s| Zeroizing::new(s.to_owned())),
            project_id: project.map(str::to_owned),
            ..HckmsInputs::default()
        }
    }

    fn file(text: &str) -> (tempfile::TempDir, HckmsInputs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, text).unwrap();
        let inputs = HckmsInputs {
            credentials_file: Some(path),
            ..HckmsInputs::default()
        };
        (dir, inputs)
    }

    #[test]
    fn the_environment_comes_first() {
        let (_dir, mut inputs) = file("[basic]\nak = FILEAK\nsk = FILESK\nproject_id = fp\n");
        inputs.ak = Some("ENVAK".into());
        inputs.sk = Some(Zeroizing::new("ENVSK".into()));
        inputs.project_id = Some("ep".into());
        let c = resolve(&inputs).unwrap();
        assert_eq!((c.ak.as_str(), c.project_id.as_str()), ("ENVAK", "ep"));
        // Half a pair in the environment: the file's pair is used.
        inputs.sk = None;
        let c = resolve(&inputs).unwrap();
        assert_eq!((c.ak.as_str(), c.sk.as_str(), c.project_id.as_str()), ("FILEAK", "FILESK", "fp"));
        assert!(!format!("{c:?}").contains("FILESK"));
    }

    #[test]
    fn the_file_is_read_as_go_ini_reads_it() {
        let (_dir, inputs) = file(
            "; a comment\nak = top-level\n[other]\nak = x\n[ basic ]\n# comment\nak: AK1 ; note\n\
             sk = \"S;K#1\"\nproject_id = p-1\nsecurity_token = `TOKEN`\n",
        );
        let c = resolve(&inputs).unwrap();
        assert_eq!(c.ak, "AK1");
        assert_eq!(c.sk.as_str(), "S;K#1");
        assert_eq!(c.project_id, "p-1");
        assert_eq!(c.security_token.as_deref().map(String::as_str), Some("TOKEN"));
    }

    #[test]
    fn missing_and_unusable_credentials() {
        let Err(Missing::None(why)) = resolve(&env(Some("a"), None, None)) else {
            panic!("expected no credentials");
        };
        assert!(why.contains("HUAWEICLOUD_SDK_AK") && why.contains("no credentials file"), "{why}");
        let (_dir, inputs) = file("[basic]\nak = a\n");
        let Err(Missing::None(why)) = resolve(&inputs) else {
            panic!("expected no credentials");
        };
        assert!(why.contains("has no ak and sk"), "{why}");
        let missing = HckmsInputs {
            credentials_file: Some("/nonexistent/credentials".into()),
            ..HckmsInputs::default()
        };
        assert!(matches!(resolve(&missing), Err(Missing::None(_))));
        let (_dir, inputs) = file("[basic]\nidp_id = i\nid_token_file = /t\n");
        assert!(matches!(resolve(&inputs), Err(Missing::Unusable(_))));
        let Err(Missing::Unusable(why)) = resolve(&env(Some("a"), Some("SECRET"), None)) else {
            panic!("expected unusable credentials");
        };
        assert!(why.contains("HUAWEICLOUD_SDK_PROJECT_ID"), "{why}");
        for bad in ["p/../x", "p?q", "..", "p q"] {
            let Err(Missing::Unusable(why)) = resolve(&env(Some("a"), Some("SECRET"), Some(bad)))
            else {
                panic!("expected a refusal of {bad}");
            };
            assert!(why.contains("invalid HuaweiCloud project id") && !why.contains("SECRET"));
        }
    }
}
