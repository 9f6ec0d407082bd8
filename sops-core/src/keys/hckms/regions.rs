//! Where a region's KMS is, as Huawei's Go SDK resolves it for sops: the
//! per-region variable `HUAWEICLOUD_SDK_REGION_KMS_<REGION>`, then the
//! regions file, then the SDK's built-in list; a region in none of them is
//! refused (the SDK does not guess a host name).

use std::path::Path;

use super::inputs::HckmsInputs;
use crate::stores::Format;
use crate::tree::{Branch, Value};

/// The KMS endpoints the SDK knows (huaweicloud-sdk-go-v3 v0.1.187, the
/// version of the reference sops), sorted by region id.
const BUILT_IN: &[(&str, &str)] = &[
    ("ae-ad-1", "https://kms.ae-ad-1.myhuaweicloud.com"),
    ("af-north-1", "https://kms.af-north-1.myhuaweicloud.com"),
    ("af-south-1", "https://kms.af-south-1.myhuaweicloud.com"),
    ("ap-southeast-1", "https://kms.ap-southeast-1.myhuaweicloud.com"),
    ("ap-southeast-2", "https://kms.ap-southeast-2.myhuaweicloud.com"),
    ("ap-southeast-3", "https://kms.ap-southeast-3.myhuaweicloud.com"),
    ("ap-southeast-4", "https://kms.ap-southeast-4.myhuaweicloud.com"),
    ("ap-southeast-5", "https://kms.ap-southeast-5.myhuaweicloud.com"),
    ("cn-east-2", "https://kms.cn-east-2.myhuaweicloud.com"),
    ("cn-east-3", "https://kms.cn-east-3.myhuaweicloud.com"),
    ("cn-east-4", "https://kms.cn-east-4.myhuaweicloud.com"),
    ("cn-east-5", "https://kms.cn-east-5.myhuaweicloud.com"),
    ("cn-north-1", "https://kms.cn-north-1.myhuaweicloud.com"),
    ("cn-north-11", "https://kms.cn-north-11.myhuaweicloud.com"),
    ("cn-north-12", "https://kms.cn-north-12.myhuaweicloud.com"),
    ("cn-north-2", "https://kms.cn-north-2.myhuaweicloud.com"),
    ("cn-north-4", "https://kms.cn-north-4.myhuaweicloud.com"),
    ("cn-north-9", "https://kms.cn-north-9.myhuaweicloud.com"),
    ("cn-south-1", "https://kms.cn-south-1.myhuaweicloud.com"),
    ("cn-south-2", "https://kms.cn-south-2.myhuaweicloud.com"),
    ("cn-south-4", "https://kms.cn-south-4.myhuaweicloud.com"),
    ("cn-southwest-2", "https://kms.cn-southwest-2.myhuaweicloud.com"),
    ("cn-southwest-3", "https://kms.cn-southwest-3.myhuaweicloud.com"),
    ("eu-west-101", "https://kms.eu-west-101.myhuaweicloud.eu"),
    ("la-north-2", "https://kms.la-north-2.myhuaweicloud.com"),
    ("la-south-2", "https://kms.la-south-2.myhuaweicloud.com"),
    ("me-east-1", "https://kms.me-east-1.myhuaweicloud.com"),
    ("my-kualalumpur-1", "https://kms.my-kualalumpur-1.myhuaweicloud.com"),
    ("na-mexico-1", "https://kms.na-mexico-1.myhuaweicloud.com"),
    ("ru-moscow-1", "https://kms.ru-moscow-1.myhuaweicloud.com"),
    ("sa-brazil-1", "https://kms.sa-brazil-1.myhuaweicloud.com"),
    ("tr-west-1", "https://kms.tr-west-1.myhuaweicloud.com"),
];

/// The regions file is small; anything larger is not one.
const REGIONS_FILE_LIMIT: u64 = 1 << 20;

/// The endpoints (base URLs without a trailing `/`) of `region`'s KMS, in
/// the order they are tried, or why there are none (sops' wording).
pub(crate) fn endpoints(region: &str, inputs: &HckmsInputs) -> Result<Vec<String>, String> {
    let found = match inputs.endpoint_override(region) {
        Some(list) => Some(list.split(',').map(str::to_owned).collect()),
        None => match &inputs.regions_file {
            Some(file) => from_regions_file(file, region)?,
            None => None,
        },
    };
    let list: Vec<String> = match found {
        Some(list) => list,
        None => match BUILT_IN.iter().find(|(id, _)| *id == region) {
            Some((_, url)) => vec![(*url).to_owned()],
            None => {
                let ids: Vec<&str> = BUILT_IN.iter().map(|(id, _)| *id).collect();
                return Err(format!(
                    "region id '{region}' is not in the following supported regions of service \
                     'KMS': [{}]",
                    ids.join(", ")
                ));
            }
        },
    };
    list.iter()
        .map(|e| {
            let e = e.trim().trim_end_matches('/');
            match reqwest::Url::parse(e) {
                Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
                    Ok(e.to_owned())
                }
                _ => Err(format!("invalid KMS endpoint {e:?} for region '{region}'")),
            }
        })
        .collect()
}

/// The endpoints the regions file gives `region`'s KMS (a map of service
/// names, any case, to lists of `id` with `endpoint` and/or `endpoints`);
/// `None` when the file does not exist or names none.
fn from_regions_file(file: &Path, region: &str) -> Result<Option<Vec<String>>, String> {
    if !file.exists() {
        return Ok(None);
    }
    let shown = file.display();
    let bytes = read_limited(file).map_err(|e| format!("failed to read file: '{shown}': {e}"))?;
    let docs = Format::Yaml
        .store()
        .and_then(|store| store.load(&bytes))
        .map_err(|e| format!("failed to resolve file: '{shown}': {e}"))?;
    let bad = |what: &str| format!("failed to resolve file: '{shown}': {what}");
    let Some(doc) = docs.first() else {
        return Ok(None);
    };
    for (service, infos) in doc.entries() {
        if !service.eq_ignore_ascii_case("KMS") {
            continue;
        }
        let infos = match infos {
            Value::Seq(items) => items,
            Value::Null => continue,
            _ => return Err(bad("a service must hold a list of regions")),
        };
        for info in infos {
            let info: &Branch = match info {
                Value::Map(b) => b,
                Value::Comment(_) => continue,
                _ => return Err(bad("a region must be a mapping")),
            };
            if info.get("id").and_then(Value::as_str) != Some(region) {
                continue;
            }
            let mut list = Vec::new();
            if let Some(one) = info.get("endpoint").and_then(Value::as_str)
                && !one.is_empty()
            {
                list.push(one.to_owned());
            }
            match info.get("endpoints") {
                Some(Value::Seq(items)) => {
                    list.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                None | Some(Value::Null) => {}
                Some(_) => return Err(bad("endpoints must be a list")),
            }
            if !list.is_empty() {
                return Ok(Some(list));
            }
        }
    }
    Ok(None)
}

fn read_limited(file: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(file)?
        .take(REGIONS_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > REGIONS_FILE_LIMIT {
        return Err(std::io::Error::other("file too large"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, HckmsInputs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regions.yaml");
        std::fs::write(&path, text).unwrap();
        let inputs = HckmsInputs {
            regions_file: Some(path),
            ..HckmsInputs::default()
        };
        (dir, inputs)
    }

    #[test]
    fn built_in_regions_and_unknown_ones() {
        let none = HckmsInputs::default();
        assert_eq!(
            endpoints("tr-west-1", &none).unwrap(),
            ["https://kms.tr-west-1.myhuaweicloud.com"]
        );
        assert_eq!(
            endpoints("eu-west-101", &none).unwrap(),
            ["https://kms.eu-west-101.myhuaweicloud.eu"]
        );
        let err = endpoints("xx-west-9", &none).unwrap_err();
        assert!(
            err.starts_with(
                "region id 'xx-west-9' is not in the following supported regions of service \
                 'KMS': [ae-ad-1, af-north-1, "
            ) && err.ends_with(", sa-brazil-1, tr-west-1]"),
            "{err}"
        );
        assert!(BUILT_IN.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn the_variable_comes_first_then_the_file() {
        let (_dir, mut inputs) = with_file(
            "kms:\n  - id: tr-west-1\n    endpoint: https://file.example\n  - id: my-lab-1\n    \
             endpoints: [https://a.example/, 'https://b.example']\nECS:\n  - id: cn-lab-1\n    \
             endpoint: https://ecs.example\n",
        );
        assert_eq!(
            endpoints("tr-west-1", &inputs).unwrap(),
            ["https://file.example"]
        );
        assert_eq!(
            endpoints("my-lab-1", &inputs).unwrap(),
            ["https://a.example", "https://b.example"]
        );
        assert!(endpoints("cn-lab-1", &inputs).is_err());
        inputs
            .endpoints
            .push(("TR_WEST_1".into(), "https://127.0.0.1:1,https://127.0.0.1:2/".into()));
        assert_eq!(
            endpoints("tr-west-1", &inputs).unwrap(),
            ["https://127.0.0.1:1", "https://127.0.0.1:2"]
        );
    }

    #[test]
    fn broken_files_and_endpoints_are_refused() {
        let (_dir, inputs) = with_file("KMS: [\n");
        assert!(
            endpoints("tr-west-1", &inputs)
                .unwrap_err()
                .starts_with("failed to resolve file:")
        );
        let (_dir, inputs) = with_file("KMS:\n  - id: tr-west-1\n    endpoint: ftp://x\n");
        assert!(endpoints("tr-west-1", &inputs).unwrap_err().contains("invalid KMS endpoint"));
        let missing = HckmsInputs {
            regions_file: Some("/nonexistent/regions.yaml".into()),
            ..HckmsInputs::default()
        };
        assert!(endpoints("tr-west-1", &missing).is_ok());
    }
}
