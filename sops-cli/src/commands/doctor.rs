//! `sops doctor FILE...`: the report of `sops_core::ops::doctor` for each
//! file, as text or `--json`, plus the `.sops.yaml` drift check (the
//! creation rule lookup and its keys are the CLI's, as for `updatekeys`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};
use sops_core::config::Config;
use sops_core::keys::KeyKind;
use sops_core::ops::doctor::{self, CredentialSource, FileReport, KeyDrift, KeyStatus};

use crate::cli::DoctorArgs;
use crate::commands;
use crate::exit_code::{self as code, CliError};

/// One file examined: its report, or why it could not be read at all.
struct Examined {
    path: PathBuf,
    format: String,
    outcome: Result<(FileReport, RuleCheck), CliError>,
}

/// The `.sops.yaml` check of one file.
enum RuleCheck {
    NoConfig,
    NoRule(PathBuf),
    Error(String),
    Matches(PathBuf),
    Drift(PathBuf, KeyDrift),
}

pub fn run(args: &DoctorArgs, config_flag: Option<&Path>) -> Result<(), CliError> {
    let decryption_order = commands::decryption_order(&args.order.decryption_order)?;
    // A broken .sops.yaml is reported per file, not fatal: the files may
    // still decrypt.
    let config = commands::load_config(config_flag);
    let ctx = commands::key_context();
    let mut kinds: Vec<KeyKind> = Vec::new();
    let examined: Vec<Examined> = args
        .files
        .iter()
        .map(|file| {
            let path = commands::absolute(file);
            let format = commands::select_format(args.input_type.as_deref(), Some(&path));
            let outcome = examine(&path, format, &config, &ctx, &decryption_order, &mut kinds);
            Examined {
                path: file.clone(),
                format: format!("{format:?}").to_lowercase(),
                outcome,
            }
        })
        .collect();
    let var = |k: &str| std::env::var(k).ok();
    let credentials = doctor::offered_credentials(&ctx, &kinds, &var);
    let failed: Vec<u8> = examined
        .iter()
        .filter_map(|e| match &e.outcome {
            Ok((r, _)) if r.decrypts => None,
            Ok((r, _)) => Some(r.exit_code),
            Err(err) => Some(err.code),
        })
        .collect();
    if args.json {
        println!("{}", to_json(&examined, &credentials, failed.is_empty()));
    } else {
        print!("{}", to_text(&examined, &credentials));
    }
    match failed.first() {
        None => Ok(()),
        Some(&first) => Err(CliError::new(
            first,
            format!(
                "doctor: {} of {} file(s) cannot be decrypted on this machine",
                failed.len(),
                examined.len()
            ),
        )
        .with_hint(Some(
            "each key's reason is listed above; supply the identity or credentials of one \
             key per group (the variables are named with each key)",
        ))),
    }
}

fn examine(
    path: &Path,
    format: sops_core::stores::Format,
    config: &Result<Option<Config>, CliError>,
    ctx: &sops_core::keys::KeyContext,
    decryption_order: &[String],
    kinds: &mut Vec<KeyKind>,
) -> Result<(FileReport, RuleCheck), CliError> {
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            code::COULD_NOT_READ_INPUT_FILE,
            format!("could not read {}: {e}", path.display()),
        )
        .with_hint(sops_core::error::io_hint(e.kind(), false))
    })?;
    let store =
        commands::store_for_config(format, None, config.as_ref().ok().and_then(Option::as_ref))?;
    let file = commands::open_encrypted(store.as_ref(), &bytes, path)?;
    for kind in doctor::keystores_of(file.metadata()) {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let rule = rule_check(path, file.metadata(), config);
    Ok((doctor::diagnose(file, ctx, decryption_order), rule))
}

/// Compares the file's keys with the creation rule that applies to it now,
/// with the rule lookup and key construction `updatekeys` uses.
fn rule_check(
    path: &Path,
    metadata: &sops_core::metadata::Metadata,
    config: &Result<Option<Config>, CliError>,
) -> RuleCheck {
    let config = match config {
        Ok(Some(c)) => c,
        Ok(None) => return RuleCheck::NoConfig,
        Err(e) => return RuleCheck::Error(e.message.clone()),
    };
    let rule = match commands::encrypt::creation_rule(Some(config), path) {
        Ok(Some(rule)) => rule,
        Ok(None) => return RuleCheck::NoRule(config.path.clone()),
        Err(e) => return RuleCheck::Error(e.message),
    };
    let groups = match commands::encrypt::rule_groups(rule, &[]) {
        Ok(g) => g,
        Err(e) => return RuleCheck::Error(e.message),
    };
    let ids: Vec<Vec<String>> = groups
        .iter()
        .map(|g| g.iter().map(|k| k.identifier()).collect())
        .collect();
    match doctor::key_drift(metadata, &ids) {
        None => RuleCheck::Matches(config.path.clone()),
        Some(drift) => RuleCheck::Drift(config.path.clone(), drift),
    }
}

fn status_text(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Ok => "OK",
        KeyStatus::NoCredentials => "NO CREDENTIALS",
        KeyStatus::Failed => "FAILED",
        KeyStatus::Unsupported => "UNSUPPORTED",
        KeyStatus::Invalid => "INVALID",
        KeyStatus::SkippedByPolicy => "SKIPPED BY POLICY",
        _ => "FAILED",
    }
}

fn to_text(examined: &[Examined], credentials: &[CredentialSource]) -> String {
    let mut out = String::new();
    if !credentials.is_empty() {
        out.push_str("This machine offers:\n");
        for c in credentials {
            let _ = writeln!(out, "  {:<8} {}: {}", c.keystore, c.location, c.state);
        }
        out.push('\n');
    }
    for e in examined {
        let _ = writeln!(out, "{} ({})", e.path.display(), e.format);
        let (report, rule) = match &e.outcome {
            Ok(x) => x,
            Err(err) => {
                let _ = writeln!(out, "  cannot be read: {}", one_line(&err.message));
                let _ = writeln!(out, "  result: NOT DECRYPTABLE (exit {})\n", err.code);
                continue;
            }
        };
        for (i, group) in report.groups.iter().enumerate() {
            let _ = writeln!(
                out,
                "  group {i}: {}",
                if group.available() {
                    "available"
                } else {
                    "unavailable"
                }
            );
            for key in &group.keys {
                let _ = writeln!(
                    out,
                    "    {} {}: {}{}",
                    key.keystore,
                    key.identifier,
                    status_text(key.status),
                    key.reason
                        .as_deref()
                        .map(|r| format!(" - {r}"))
                        .unwrap_or_default()
                );
                if let Some(local) = &key.local {
                    let _ = writeln!(out, "      here: {local}");
                }
            }
        }
        let _ = writeln!(
            out,
            "  threshold: {} of {} group(s) needed, {} available: {}",
            report.threshold,
            report.groups.len(),
            report.groups_available,
            if report.threshold_met() {
                "met"
            } else {
                "NOT met"
            }
        );
        let _ = writeln!(out, "  MAC: {}", report.mac.as_str());
        match rule {
            RuleCheck::NoConfig => {
                let _ = writeln!(out, "  .sops.yaml: none found");
            }
            RuleCheck::NoRule(p) => {
                let _ = writeln!(
                    out,
                    "  .sops.yaml: no creation rule of {} applies",
                    p.display()
                );
            }
            RuleCheck::Error(m) => {
                let _ = writeln!(out, "  .sops.yaml: {}", one_line(m));
            }
            RuleCheck::Matches(p) => {
                let _ = writeln!(
                    out,
                    "  .sops.yaml: keys match the creation rule of {}",
                    p.display()
                );
            }
            RuleCheck::Drift(p, drift) => {
                let _ = writeln!(
                    out,
                    "  .sops.yaml: keys differ from the creation rule of {}: run `sops updatekeys {}`",
                    p.display(),
                    e.path.display()
                );
                if drift.old_threshold != drift.new_threshold {
                    let _ = writeln!(
                        out,
                        "    shamir_threshold: {} -> {}",
                        drift.old_threshold, drift.new_threshold
                    );
                }
                for (i, g) in drift.groups.iter().enumerate() {
                    for k in &g.added {
                        let _ = writeln!(out, "    group {i}: +++ {k}");
                    }
                    for k in &g.removed {
                        let _ = writeln!(out, "    group {i}: --- {k}");
                    }
                }
            }
        }
        match &report.error {
            None => out.push_str("  result: decryptable\n\n"),
            Some(why) => {
                let _ = writeln!(
                    out,
                    "  result: NOT DECRYPTABLE (exit {}): {why}\n",
                    report.exit_code
                );
            }
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn to_json(examined: &[Examined], credentials: &[CredentialSource], ok: bool) -> Json {
    let files: Vec<Json> = examined
        .iter()
        .map(|e| {
            let path = e.path.display().to_string();
            let (report, rule) = match &e.outcome {
                Ok(x) => x,
                Err(err) => {
                    return json!({
                        "path": path,
                        "format": e.format,
                        "decrypts": false,
                        "exit_code": err.code,
                        "error": one_line(&err.message),
                    });
                }
            };
            let groups: Vec<Json> = report
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "available": g.available(),
                        "keys": g.keys.iter().map(|k| json!({
                            "type": k.keystore,
                            "id": k.identifier,
                            "status": k.status.as_str(),
                            "reason": k.reason,
                            "local": k.local,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let rule = match rule {
                RuleCheck::NoConfig => json!({"status": "no-config"}),
                RuleCheck::NoRule(p) => json!({"status": "no-rule", "config": p}),
                RuleCheck::Error(m) => json!({"status": "error", "message": one_line(m)}),
                RuleCheck::Matches(p) => json!({"status": "matches", "config": p}),
                RuleCheck::Drift(p, d) => json!({
                    "status": "drift",
                    "config": p,
                    "old_threshold": d.old_threshold,
                    "new_threshold": d.new_threshold,
                    "groups": d.groups.iter().map(|g| json!({
                        "kept": g.kept, "added": g.added, "removed": g.removed,
                    })).collect::<Vec<_>>(),
                }),
            };
            json!({
                "path": path,
                "format": e.format,
                "decrypts": report.decrypts,
                "exit_code": report.exit_code,
                "error": report.error,
                "groups": groups,
                "threshold": report.threshold,
                "groups_available": report.groups_available,
                "threshold_met": report.threshold_met(),
                "mac": report.mac.as_str(),
                "rule": rule,
            })
        })
        .collect();
    json!({
        "ok": ok,
        "credentials": credentials.iter().map(|c| json!({
            "type": c.keystore, "location": c.location, "state": c.state,
        })).collect::<Vec<_>>(),
        "files": files,
    })
}
