//! Argo CD config management plugin (issue 3). For now a stub that builds and
//! says it is not implemented, so a misconfigured sidecar fails closed.

fn main() -> std::process::ExitCode {
    eprintln!("argocd-sops-plugin: not implemented yet");
    std::process::ExitCode::from(1)
}
