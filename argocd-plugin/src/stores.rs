//! The one place the plugin gets a sops-core store: every YAML or JSON
//! file a tenant controls (manifests, sops files, renderer output) is parsed
//! under the operator's nesting and alias limits, and hitting one of them
//! is reported with the setting that governs it (spec §3.1).

use sops_core::stores::{Format, Store, StoreError, StoreLimits};

use crate::error::Failure;
use crate::settings::Limits;

/// The store for `format` with the operator's limits applied.
pub fn store_for(format: Format, limits: &Limits) -> Result<Box<dyn Store>, Failure> {
    let store_limits = StoreLimits {
        max_depth: limits.max_yaml_depth,
        max_alias_nodes: limits.max_yaml_aliases,
        // Fixed caps: the size of the file must not raise them.
        alias_nodes_per_node: 0,
        max_alias_bytes: limits.max_yaml_alias_bytes,
        alias_bytes_per_input_byte: 0,
    };
    format
        .store_with(&store_limits)
        .map_err(|e| Failure::generic(format!("cannot read {} files: {e}", format.name())))
}

/// The message for a store error that is one of our limits, naming the file
/// and the setting (never anything from the file itself).
pub fn limit_failure(
    shown: &str,
    format: Format,
    e: &StoreError,
    limits: &Limits,
) -> Option<Failure> {
    let message = match e {
        StoreError::TooDeep { .. } => format!(
            "{shown}: {} nesting deeper than {} levels (SOPS_CMP_MAX_YAML_DEPTH)",
            format.name().to_uppercase(),
            limits.max_yaml_depth
        ),
        StoreError::ExcessiveAliasing { .. } => format!(
            "{shown}: YAML aliases expand to more than {} nodes (SOPS_CMP_MAX_YAML_ALIASES)",
            limits.max_yaml_aliases
        ),
        StoreError::AliasExpansionTooLarge { .. } => format!(
            "{shown}: YAML aliases expand to more than {} bytes (SOPS_CMP_MAX_YAML_ALIAS_BYTES)",
            limits.max_yaml_alias_bytes
        ),
        _ => return None,
    };
    Some(Failure::generic(message).with_hint(
        "the file is refused as a precaution; flatten it, or ask the operator to raise the limit",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_apply_and_errors_name_the_setting() {
        let limits = Limits {
            max_yaml_depth: 3,
            max_yaml_aliases: 4,
            ..Limits::default()
        };
        let yaml = store_for(Format::Yaml, &limits).unwrap();
        yaml.load(b"a: [[1]]\n").unwrap();
        let e = yaml.load(b"a: [[[secret]]]\n").unwrap_err();
        let f = limit_failure("app/x.yaml", Format::Yaml, &e, &limits).unwrap();
        assert_eq!(
            f.message,
            "app/x.yaml: YAML nesting deeper than 3 levels (SOPS_CMP_MAX_YAML_DEPTH)"
        );
        let e = yaml.load(b"a: &a [x, y]\nb: [*a, *a]\n").unwrap_err();
        let f = limit_failure("app/x.yaml", Format::Yaml, &e, &limits).unwrap();
        assert_eq!(
            f.message,
            "app/x.yaml: YAML aliases expand to more than 4 nodes (SOPS_CMP_MAX_YAML_ALIASES)"
        );
        // issue 10: a few aliases of one large scalar stay under the node cap.
        let limits = Limits {
            max_yaml_alias_bytes: 1000,
            ..Limits::default()
        };
        let yaml = store_for(Format::Yaml, &limits).unwrap();
        let bomb = format!("a: &x {}\nb: [*x, *x, *x]\n", "s".repeat(400));
        let e = yaml.load(bomb.as_bytes()).unwrap_err();
        let f = limit_failure("app/x.yaml", Format::Yaml, &e, &limits).unwrap();
        assert_eq!(
            f.message,
            "app/x.yaml: YAML aliases expand to more than 1000 bytes (SOPS_CMP_MAX_YAML_ALIAS_BYTES)"
        );
        let limits = Limits {
            max_yaml_depth: 3,
            ..Limits::default()
        };
        let json = store_for(Format::Json, &limits).unwrap();
        let e = json.load(b"{\"a\": [[[\"secret\"]]]}").unwrap_err();
        let f = limit_failure("app/x.json", Format::Json, &e, &limits).unwrap();
        assert_eq!(
            f.message,
            "app/x.json: JSON nesting deeper than 3 levels (SOPS_CMP_MAX_YAML_DEPTH)"
        );
        let e = yaml.load(b"a: [unclosed\n").unwrap_err();
        assert!(limit_failure("f", Format::Yaml, &e, &limits).is_none());
    }
}
