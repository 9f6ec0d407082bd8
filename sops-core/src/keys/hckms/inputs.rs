//! The HuaweiCloud KMS inputs of a [`crate::keys::KeyContext`]: credentials
//! and endpoint settings, read once from variables (as Huawei's Go SDK
//! reads them) or given to the builder. The secret key and the security
//! token are wiped on drop and never printed.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// The prefix of the per-region endpoint variables the SDK reads for KMS:
/// `HUAWEICLOUD_SDK_REGION_KMS_<REGION>` (upper case, `-` as `_`).
pub(crate) const REGION_VAR_PREFIX: &str = "HUAWEICLOUD_SDK_REGION_KMS_";

#[derive(Default, Clone)]
pub(crate) struct HckmsInputs {
    /// `HUAWEICLOUD_SDK_AK`.
    pub ak: Option<String>,
    /// `HUAWEICLOUD_SDK_SK`.
    pub sk: Option<Zeroizing<String>>,
    /// `HUAWEICLOUD_SDK_PROJECT_ID`.
    pub project_id: Option<String>,
    /// `HUAWEICLOUD_SDK_SECURITY_TOKEN` (temporary credentials).
    pub security_token: Option<Zeroizing<String>>,
    /// The SDK's credentials file (INI, section `[basic]`):
    /// `HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else `~/.huaweicloud/credentials`;
    /// `None`: no file is consulted.
    pub credentials_file: Option<PathBuf>,
    /// The SDK's regions file (YAML): `HUAWEICLOUD_SDK_REGIONS_FILE`, else
    /// `~/.huaweicloud/regions.yaml`; `None`: none is consulted.
    pub regions_file: Option<PathBuf>,
    /// `HUAWEICLOUD_SDK_REGION_KMS_<REGION>` variables: (the `<REGION>`
    /// part, the value: one endpoint or a comma-separated list).
    pub endpoints: Vec<(String, String)>,
}

impl HckmsInputs {
    /// The inputs from variables: `var` looks one up (empty counts as
    /// unset), `names` lists every variable name there is (for the
    /// per-region endpoint variables, whose names depend on the region).
    pub(crate) fn from_vars(
        var: &dyn Fn(&str) -> Option<String>,
        names: &mut dyn Iterator<Item = String>,
    ) -> Self {
        let home = var("HOME").map(PathBuf::from);
        let in_home = |file: &str| home.as_ref().map(|h| h.join(".huaweicloud").join(file));
        let mut endpoints: Vec<(String, String)> = names
            .filter_map(|name| {
                let region = name.strip_prefix(REGION_VAR_PREFIX)?.to_owned();
                Some((region, var(&name)?))
            })
            .collect();
        endpoints.sort();
        Self {
            ak: var("HUAWEICLOUD_SDK_AK"),
            sk: var("HUAWEICLOUD_SDK_SK").map(Zeroizing::new),
            project_id: var("HUAWEICLOUD_SDK_PROJECT_ID"),
            security_token: var("HUAWEICLOUD_SDK_SECURITY_TOKEN").map(Zeroizing::new),
            credentials_file: var("HUAWEICLOUD_SDK_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| in_home("credentials")),
            regions_file: var("HUAWEICLOUD_SDK_REGIONS_FILE")
                .map(PathBuf::from)
                .or_else(|| in_home("regions.yaml")),
            endpoints,
        }
    }

    /// The endpoint variable's value for `region`, as the SDK names it.
    #[cfg_attr(not(feature = "hckms"), allow(dead_code))]
    pub(crate) fn endpoint_override(&self, region: &str) -> Option<&str> {
        let suffix = region.replace('-', "_").to_uppercase();
        self.endpoints
            .iter()
            .find(|(r, _)| *r == suffix)
            .map(|(_, v)| v.as_str())
    }
}

/// Settings and whether secrets are present; never their values.
impl fmt::Debug for HckmsInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HckmsInputs")
            .field("ak", &self.ak)
            .field("sk", &self.sk.is_some())
            .field("project_id", &self.project_id)
            .field("security_token", &self.security_token.is_some())
            .field("credentials_file", &self.credentials_file)
            .field("regions_file", &self.regions_file)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn inputs(pairs: &[(&str, &str)]) -> HckmsInputs {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let var = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
        HckmsInputs::from_vars(&var, &mut map.keys().cloned())
    }

    #[test]
    fn variables_as_the_sdk_reads_them() {
        let i = inputs(&[
            ("HUAWEICLOUD_SDK_AK", "AK1"),
            ("HUAWEICLOUD_SDK_SK", "SECRET-SK"),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p1"),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "SECRET-TOKEN"),
            ("HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1", "https://127.0.0.1:1"),
            ("HUAWEICLOUD_SDK_REGION_KMS_CN_NORTH_4", ""),
            ("HUAWEICLOUD_SDK_REGION_ECS_TR_WEST_1", "https://ecs"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(i.ak.as_deref(), Some("AK1"));
        assert_eq!(i.sk.as_deref().map(String::as_str), Some("SECRET-SK"));
        assert_eq!(i.endpoint_override("tr-west-1"), Some("https://127.0.0.1:1"));
        assert_eq!(i.endpoint_override("cn-north-4"), None);
        assert_eq!(i.endpoints.len(), 1);
        assert_eq!(
            i.credentials_file,
            Some(PathBuf::from("/home/u/.huaweicloud/credentials"))
        );
        assert_eq!(
            i.regions_file,
            Some(PathBuf::from("/home/u/.huaweicloud/regions.yaml"))
        );
        let shown = format!("{i:?}");
        assert!(!shown.contains("SECRET"), "{shown}");

        let i = inputs(&[
            ("HUAWEICLOUD_SDK_CREDENTIALS_FILE", "/c"),
            ("HUAWEICLOUD_SDK_REGIONS_FILE", "/r.yaml"),
        ]);
        assert_eq!(i.credentials_file, Some(PathBuf::from("/c")));
        assert_eq!(i.regions_file, Some(PathBuf::from("/r.yaml")));
        let none = inputs(&[]);
        assert_eq!(none.credentials_file, None);
        assert_eq!(none.ak, None);
    }

    /// The context passes every variable name along, so the per-region
    /// variables are found; the builder sets the same inputs.
    #[test]
    fn through_the_key_context() {
        let ctx = crate::keys::KeyContext::from_vars([
            ("HUAWEICLOUD_SDK_REGION_KMS_LAB_1", "https://127.0.0.1:1"),
            ("HUAWEICLOUD_SDK_SK", "SECRET-SK"),
        ]);
        assert_eq!(ctx.hckms().endpoint_override("lab-1"), Some("https://127.0.0.1:1"));
        assert!(!format!("{ctx:?}").contains("SECRET-SK"));
        let ctx = crate::keys::KeyContext::builder()
            .hckms_credentials("AK", "SECRET-SK", "p")
            .hckms_security_token("SECRET-TOKEN")
            .hckms_endpoint("tr-west-1", "https://a")
            .hckms_endpoint("TR_WEST_1", "https://b")
            .hckms_credentials_file("/c")
            .hckms_regions_file("/r")
            .build();
        let i = ctx.hckms();
        assert_eq!(i.endpoint_override("tr-west-1"), Some("https://b"));
        assert_eq!(i.endpoints.len(), 1);
        assert_eq!((i.ak.as_deref(), i.project_id.as_deref()), (Some("AK"), Some("p")));
        assert_eq!(i.credentials_file.as_deref(), Some(std::path::Path::new("/c")));
        assert_eq!(i.regions_file.as_deref(), Some(std::path::Path::new("/r")));
        let shown = format!("{ctx:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
