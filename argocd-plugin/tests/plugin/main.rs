//! Integration tests of `argocd-sops-plugin`, through a harness that
//! imitates the argocd-cmp-server contract (spec §1, §4.2 item 4). One test
//! binary (STYLE.md §6).

mod azure;
mod discover;
mod gcp;
mod generate;
mod harness;
mod helm;
mod hints;
mod install;
mod interop;
mod keyservice;
mod kms;
mod kms_calls;
mod kustomize;
mod leftovers;
mod orphans;
mod pgp;
mod policy;
mod scratch;
mod vault;
