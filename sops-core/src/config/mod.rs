//! `.sops.yaml`: lookup, `creation_rules`, `destination_rules` and `stores`
//! (sops-cli.md §8).
//!
//! Key fields are kept as strings per keystore; turning them into master
//! keys is the caller's job (keystores we do not implement yet fail there
//! with a clear error instead of being dropped).

use std::path::{Path, PathBuf};

use crate::keys::keystore::GroupForm;
use crate::keys::keystores_by;
use crate::metadata::PartialRule;
use crate::stores::Format;
use crate::tree::{Branch, Value};

/// A problem with the config file; names the file, the rule and the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("could not read config file: {path}", path = .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("error loading config: Could not unmarshal config file: {path}: {message}", path = .path.display())]
    Parse { path: PathBuf, message: String },
    #[error("error loading config: {path}: {location}: {message}", path = .path.display())]
    Field {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error("error loading config: no matching creation rules found")]
    NoMatchingRule,
    #[error("can not compile regexp: {path}: creation rule {rule}: path_regex is not a valid regular expression", path = .path.display())]
    BadPathRegex { path: PathBuf, rule: usize },
    #[error("error loading config: no matching destination found in config")]
    NoMatchingDestination,
    #[error(
        "error loading config: more than one destinations were found in a single destination rule, you can only use one per rule"
    )]
    SeveralDestinations,
    #[error("no destination configured for this file")]
    NoDestination,
}

/// One master key named by a rule (defined with the keystores, which build
/// master keys from it).
pub use crate::keys::KeySpec;

/// A `creation_rules` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreationRule {
    /// 0-based position in the file (for messages).
    pub index: usize,
    pub path_regex: Option<String>,
    pub key_groups: Vec<Vec<KeySpec>>,
    /// The keys come from the rule's flat lists (`kms: …`), not from
    /// `key_groups`: only those take `--encryption-context` (sops 3.12,
    /// #2021), as a `key_groups` KMS entry carries its own context.
    pub flat_keys: bool,
    pub shamir_threshold: usize,
    pub rule: Option<PartialRule>,
    pub mac_only_encrypted: bool,
}

/// Per-format store settings (`stores:`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoresConfig {
    pub yaml_indent: Option<i64>,
    pub json_indent: Option<i64>,
    pub json_binary_indent: Option<i64>,
}

impl StoresConfig {
    /// The configured indentation for a format's store, if any.
    pub fn indent_for(&self, format: Format) -> Option<i64> {
        match format {
            Format::Yaml => self.yaml_indent,
            Format::Json => self.json_indent,
            Format::Binary => self.json_binary_indent,
            Format::Dotenv | Format::Ini => None,
        }
    }
}

/// A parsed `.sops.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: PathBuf,
    /// `None` when the file has no `creation_rules` at all.
    pub creation_rules: Option<Vec<CreationRule>>,
    /// `destination_rules` (`publish` only); empty when there are none.
    pub destination_rules: Vec<DestinationRule>,
    pub stores: StoresConfig,
}

/// A `destination_rules` entry (sops-cli.md §8.5): where `publish` sends
/// the files its `path_regex` matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DestinationRule {
    /// 0-based position in the file (for messages).
    pub index: usize,
    pub path_regex: Option<String>,
    pub s3_bucket: String,
    pub s3_prefix: String,
    pub gcs_bucket: String,
    pub gcs_prefix: String,
    pub vault_path: String,
    pub vault_address: String,
    pub vault_kv_mount_name: String,
    pub vault_kv_version: i64,
    /// Creation-rule fields: the keys an S3/GCS copy is re-encrypted for
    /// (none: the file is sent as it is).
    pub recreation_rule: CreationRule,
    pub omit_extensions: bool,
}

/// Where a destination rule publishes (sops' `publish.Destination`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The file, to `s3://BUCKET/PREFIXNAME`.
    S3 { bucket: String, prefix: String },
    /// The file, to `gcs://BUCKET/PREFIXNAME`.
    Gcs { bucket: String, prefix: String },
    /// The decrypted top-level map, to a Vault KV secret
    /// `MOUNT[data/]PATHNAME` on `address` (empty: `VAULT_ADDR`, else
    /// Vault's default). `path` and `mount` end with `/`; `version` is 1 or 2.
    VaultKv {
        address: String,
        path: String,
        mount: String,
        version: u8,
    },
}

impl Destination {
    /// The secret's path under `/v1/` for Vault KV (sops' `secretsPath`).
    pub fn vault_secret_path(mount: &str, path: &str, version: u8, name: &str) -> String {
        if version == 1 {
            format!("{mount}{path}{name}")
        } else {
            format!("{mount}data/{path}{name}")
        }
    }

    /// The address shown in `publish`'s prompt for an object called
    /// `name`; `vault_default` is the Vault address used when the rule has
    /// none.
    pub fn display(&self, name: &str, vault_default: &str) -> String {
        match self {
            Self::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}{name}"),
            Self::Gcs { bucket, prefix } => format!("gcs://{bucket}/{prefix}{name}"),
            Self::VaultKv {
                address,
                path,
                mount,
                version,
            } => {
                let address = if address.is_empty() {
                    vault_default
                } else {
                    address
                };
                format!(
                    "{address}/v1/{}",
                    Self::vault_secret_path(mount, path, *version, name)
                )
            }
        }
    }
}

impl DestinationRule {
    /// The rule's one destination; sops' errors when it names several or
    /// none.
    pub fn destination(&self) -> Result<Destination, ConfigError> {
        let named = [&self.s3_bucket, &self.gcs_bucket, &self.vault_path]
            .iter()
            .filter(|s| !s.is_empty())
            .count();
        if named > 1 {
            return Err(ConfigError::SeveralDestinations);
        }
        if !self.s3_bucket.is_empty() {
            return Ok(Destination::S3 {
                bucket: self.s3_bucket.clone(),
                prefix: self.s3_prefix.clone(),
            });
        }
        if !self.gcs_bucket.is_empty() {
            return Ok(Destination::Gcs {
                bucket: self.gcs_bucket.clone(),
                prefix: self.gcs_prefix.clone(),
            });
        }
        if self.vault_path.is_empty() {
            return Err(ConfigError::NoDestination);
        }
        // sops 3.11 (`NewVaultDestination`): both end with `/`, the mount
        // defaults to `secret/`, any version but 1 is 2.
        let slash = |s: &str| {
            if s.ends_with('/') {
                s.to_owned()
            } else {
                format!("{s}/")
            }
        };
        let mount = if self.vault_kv_mount_name.is_empty() {
            "secret/".to_owned()
        } else {
            slash(&self.vault_kv_mount_name)
        };
        Ok(Destination::VaultKv {
            address: self.vault_address.clone(),
            path: slash(&self.vault_path),
            mount,
            version: if self.vault_kv_version == 1 { 1 } else { 2 },
        })
    }
}

/// sops' lookup: `.sops.yaml` in `start` or up to 100 parent directories
/// (`.sops.yml` is never used).
pub fn find_config(start: &Path) -> Option<PathBuf> {
    let mut dir = start.to_path_buf();
    for _ in 0..100 {
        let candidate = dir.join(".sops.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            break;
        }
    }
    None
}

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, location: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Field {
            path: self.path.to_path_buf(),
            location: location.into(),
            message: message.into(),
        }
    }

    fn string(&self, loc: &str, v: &Value) -> Result<String, ConfigError> {
        match v {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Float(f) => Ok(crate::numfmt::format_g(*f)),
            Value::Time(t) => Ok(t.as_str().to_owned()),
            Value::Null => Ok(String::new()),
            other => Err(self.err(
                loc,
                format!("expected a string, got a {}", other.kind_name()),
            )),
        }
    }

    /// A flat key field: comma-separated string (items trimmed, empty ones
    /// dropped) or a list of strings.
    fn key_list(&self, loc: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Str(s) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            Value::Seq(items) => items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .map(|i| match i {
                    Value::Str(s) => Ok(s.trim().to_owned()),
                    other => Err(self.err(
                        loc,
                        format!("expected string in list, got {}", other.kind_name()),
                    )),
                })
                .collect(),
            other => Err(self.err(
                loc,
                format!(
                    "expected string, []string, or nil, got {}",
                    other.kind_name()
                ),
            )),
        }
    }

    fn int(&self, loc: &str, v: &Value) -> Result<i64, ConfigError> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Null => Ok(0),
            other => Err(self.err(
                loc,
                format!("expected an integer, got a {}", other.kind_name()),
            )),
        }
    }

    fn bool(&self, loc: &str, v: &Value) -> Result<bool, ConfigError> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            other => Err(self.err(
                loc,
                format!("expected a boolean, got a {}", other.kind_name()),
            )),
        }
    }

    fn map<'v>(&self, loc: &str, v: &'v Value) -> Result<Option<&'v Branch>, ConfigError> {
        match v {
            Value::Map(b) => Ok(Some(b)),
            Value::Null => Ok(None),
            other => Err(self.err(
                loc,
                format!("expected a mapping, got a {}", other.kind_name()),
            )),
        }
    }

    fn seq<'v>(&self, loc: &str, v: &'v Value) -> Result<Vec<&'v Value>, ConfigError> {
        match v {
            Value::Seq(items) => Ok(items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(self.err(loc, format!("expected a list, got a {}", other.kind_name()))),
        }
    }
}

/// Reads and parses a config file.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_config(path, &bytes)
}

/// Parses config text; `path` is used in messages and for rule matching.
pub fn parse_config(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let store = Format::Yaml.store().map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let docs = match store.load(bytes) {
        Ok(docs) => docs,
        // An empty config file counts as a config without rules.
        Err(crate::stores::StoreError::Empty) => Vec::new(),
        Err(e) => {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    let ctx = Ctx { path };
    let mut config = Config {
        path: path.to_path_buf(),
        ..Config::default()
    };
    let Some(root) = docs.first() else {
        return Ok(config);
    };
    let stores = match root.get("stores") {
        Some(v) => ctx.map("stores", v)?,
        None => None,
    };
    if let Some(stores) = stores {
        let indent = |name: &str| -> Result<Option<i64>, ConfigError> {
            match stores.get(name) {
                Some(v) => match ctx
                    .map(&format!("stores.{name}"), v)?
                    .and_then(|b| b.get("indent"))
                {
                    Some(i) => Ok(Some(ctx.int(&format!("stores.{name}.indent"), i)?)),
                    None => Ok(None),
                },
                None => Ok(None),
            }
        };
        config.stores = StoresConfig {
            yaml_indent: indent("yaml")?,
            json_indent: indent("json")?,
            json_binary_indent: indent("json_binary")?,
        };
    }
    if let Some(rules) = root
        .get("creation_rules")
        .filter(|v| !matches!(v, Value::Null))
    {
        let items = ctx.seq("creation_rules", rules)?;
        let mut parsed = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let loc = format!("creation_rules[{index}]");
            let Some(rule) = ctx.map(&loc, item)? else {
                continue;
            };
            parsed.push(parse_rule(&ctx, &loc, index, rule)?);
        }
        config.creation_rules = Some(parsed);
    }
    if let Some(rules) = root.get("destination_rules") {
        for (index, item) in ctx.seq("destination_rules", rules)?.into_iter().enumerate() {
            let loc = format!("destination_rules[{index}]");
            let Some(rule) = ctx.map(&loc, item)? else {
                continue;
            };
            config
                .destination_rules
                .push(parse_destination_rule(&ctx, index, rule)?);
        }
    }
    Ok(config)
}

fn parse_destination_rule(
    ctx: &Ctx<'_>,
    index: usize,
    b: &Branch,
) -> Result<DestinationRule, ConfigError> {
    let loc = |field: &str| format!("destination_rules[{index}].{field}");
    let string = |field: &str| -> Result<String, ConfigError> {
        b.get(field)
            .map_or(Ok(String::new()), |v| ctx.string(&loc(field), v))
    };
    let path_regex = string("path_regex")?;
    let recreation_rule = match b.get("recreation_rule") {
        Some(v) => match ctx.map(&loc("recreation_rule"), v)? {
            Some(r) => parse_rule(ctx, &loc("recreation_rule"), index, r)?,
            None => CreationRule::default(),
        },
        None => CreationRule::default(),
    };
    Ok(DestinationRule {
        index,
        path_regex: (!path_regex.is_empty()).then_some(path_regex),
        s3_bucket: string("s3_bucket")?,
        s3_prefix: string("s3_prefix")?,
        gcs_bucket: string("gcs_bucket")?,
        gcs_prefix: string("gcs_prefix")?,
        vault_path: string("vault_path")?,
        vault_address: string("vault_address")?,
        vault_kv_mount_name: string("vault_kv_mount_name")?,
        vault_kv_version: b
            .get("vault_kv_version")
            .map_or(Ok(0), |v| ctx.int(&loc("vault_kv_version"), v))?,
        recreation_rule,
        omit_extensions: b
            .get("omit_extensions")
            .map_or(Ok(false), |v| ctx.bool(&loc("omit_extensions"), v))?,
    })
}

/// A creation rule (or a destination rule's `recreation_rule`) at `at`.
fn parse_rule(
    ctx: &Ctx<'_>,
    at: &str,
    index: usize,
    b: &Branch,
) -> Result<CreationRule, ConfigError> {
    let loc = |field: &str| format!("{at}.{field}");
    let mut rule = CreationRule {
        index,
        ..CreationRule::default()
    };
    if let Some(v) = b.get("path_regex") {
        let s = ctx.string(&loc("path_regex"), v)?;
        rule.path_regex = (!s.is_empty()).then_some(s);
    }
    // Flat keys form one group, in sops' order (the keystores' creation
    // rule rank): age, pgp, kms, gcp_kms, hckms, azure, vault.
    let keystores = keystores_by(|s| s.order.creation_rule);
    // Rule-level key options (kms' `aws_profile`), read whether or not the
    // rule names keys they apply to, as sops does.
    let mut options: Vec<(&str, String)> = Vec::new();
    for option in keystores.iter().flat_map(|k| k.spec().config.options) {
        if options.iter().all(|(f, _)| *f != option.field)
            && let Some(v) = b.get(option.field)
        {
            options.push((option.field, ctx.string(&loc(option.field), v)?));
        }
    }
    let mut flat = Vec::new();
    for ks in &keystores {
        let config = &ks.spec().config;
        let Some(v) = b.get(config.rule_field) else {
            continue;
        };
        let ids = ctx.key_list(&loc(config.rule_field), v)?;
        for id in ids
            .into_iter()
            .filter(|id| config.normalise.names_a_key(id))
        {
            let fields = config
                .options
                .iter()
                .filter_map(|o| options.iter().find(|(f, _)| *f == o.field))
                .filter(|(_, value)| !value.is_empty())
                .map(|(f, value)| ((*f).to_owned(), value.clone()))
                .collect();
            flat.push(KeySpec {
                kind: ks.kind,
                id: config.normalise.apply(&id),
                fields,
            });
        }
    }
    let groups = match b.get("key_groups") {
        Some(v) => ctx.seq(&loc("key_groups"), v)?,
        None => Vec::new(),
    };
    if groups.is_empty() {
        if !flat.is_empty() {
            rule.key_groups.push(flat);
            rule.flat_keys = true;
        }
    } else {
        for (g, group) in groups.into_iter().enumerate() {
            let gloc = format!("{at}.key_groups[{g}]");
            let Some(group) = ctx.map(&gloc, group)? else {
                continue;
            };
            rule.key_groups.push(parse_group(ctx, &gloc, group)?);
        }
    }
    if let Some(v) = b.get("shamir_threshold") {
        let t = ctx.int(&loc("shamir_threshold"), v)?;
        rule.shamir_threshold = usize::try_from(t)
            .map_err(|_| ctx.err(loc("shamir_threshold"), "must not be negative"))?;
    }
    if let Some(v) = b.get("mac_only_encrypted") {
        rule.mac_only_encrypted = ctx.bool(&loc("mac_only_encrypted"), v)?;
    }
    for name in PartialRule::FIELDS {
        let Some(v) = b.get(name) else { continue };
        let text = ctx.string(&loc(name), v)?;
        if text.is_empty() {
            continue;
        }
        if rule.rule.is_some() {
            return Err(ctx.err(
                at.to_owned(),
                "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule",
            ));
        }
        rule.rule = PartialRule::from_field(name, text);
    }
    Ok(rule)
}

fn parse_group(ctx: &Ctx<'_>, gloc: &str, b: &Branch) -> Result<Vec<KeySpec>, ConfigError> {
    let mut keys = Vec::new();
    if let Some(v) = b.get("merge") {
        for (m, nested) in ctx
            .seq(&format!("{gloc}.merge"), v)?
            .into_iter()
            .enumerate()
        {
            let mloc = format!("{gloc}.merge[{m}]");
            if let Some(nested) = ctx.map(&mloc, nested)? {
                keys.extend(parse_group(ctx, &mloc, nested)?);
            }
        }
    }
    for ks in keystores_by(|s| s.order.creation_rule) {
        let config = &ks.spec().config;
        let field = config.group_field;
        let Some(v) = b.get(field) else { continue };
        let id_field = match config.group_form {
            GroupForm::Ids => {
                for id in ctx.key_list(&format!("{gloc}.{field}"), v)? {
                    keys.push(KeySpec {
                        kind: ks.kind,
                        id: config.normalise.apply(&id),
                        fields: Vec::new(),
                    });
                }
                continue;
            }
            GroupForm::Maps { id } => id,
        };
        for (i, entry) in ctx
            .seq(&format!("{gloc}.{field}"), v)?
            .into_iter()
            .enumerate()
        {
            let eloc = format!("{gloc}.{field}[{i}]");
            let Some(entry) = ctx.map(&eloc, entry)? else {
                continue;
            };
            let mut id = String::new();
            let mut fields = Vec::new();
            for (k, v) in entry.entries() {
                if k == id_field {
                    id = ctx.string(&format!("{eloc}.{k}"), v)?;
                } else if let Value::Map(m) = v {
                    for (ck, cv) in m.entries() {
                        fields.push((
                            format!("{k}.{ck}"),
                            ctx.string(&format!("{eloc}.{k}.{ck}"), cv)?,
                        ));
                    }
                } else {
                    fields.push((k.to_owned(), ctx.string(&format!("{eloc}.{k}"), v)?));
                }
            }
            if id.is_empty() {
                return Err(ctx.err(eloc, format!("missing {id_field}")));
            }
            keys.push(KeySpec {
                kind: ks.kind,
                id,
                fields,
            });
        }
    }
    // sops removes duplicates (same type and identity), keeping the first.
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert((k.kind, k.id.clone())));
    Ok(keys)
}

impl Config {
    /// The creation rule for a file: the first whose `path_regex` matches
    /// (or that has none). `target` is absolute; inside the config's
    /// directory it is matched relative to it, as sops does.
    pub fn rule_for(&self, target: &Path) -> Result<Option<&CreationRule>, ConfigError> {
        let Some(rules) = &self.creation_rules else {
            return Ok(None);
        };
        let config_dir = std::path::absolute(&self.path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let target_text = target.to_string_lossy();
        let prefix = format!("{}/", config_dir.to_string_lossy());
        let relative = target_text
            .strip_prefix(prefix.as_str())
            .unwrap_or(&target_text);
        for rule in rules {
            match &rule.path_regex {
                None => return Ok(Some(rule)),
                Some(re) => {
                    let compiled =
                        crate::rules::compile_go_regex(re).ok_or(ConfigError::BadPathRegex {
                            path: self.path.clone(),
                            rule: rule.index,
                        })?;
                    if compiled.is_match(relative) {
                        return Ok(Some(rule));
                    }
                }
            }
        }
        Err(ConfigError::NoMatchingRule)
    }

    /// The destination rule for `publish`ing `file` and its destination.
    /// sops 3.11 matches `path_regex` against the path as given on the
    /// command line (not made absolute nor relative to the config), and a
    /// regex that does not compile never matches.
    pub fn destination_for(
        &self,
        file: &str,
    ) -> Result<(&DestinationRule, Destination), ConfigError> {
        let rule = self
            .destination_rules
            .iter()
            .find(|r| match &r.path_regex {
                None => true,
                Some(re) => crate::rules::compile_go_regex(re).is_some_and(|c| c.is_match(file)),
            })
            .ok_or(ConfigError::NoMatchingDestination)?;
        Ok((rule, rule.destination()?))
    }
}

#[cfg(test)]
mod tests;
