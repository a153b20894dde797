# shellcheck shell=bash
# Shared by scripts/demo and scripts/test (sourced, not run): the project's .venv.

log() { printf '\n==> %s\n' "$*"; }

# A fingerprint of what an install depends on: pyproject.toml, the interpreter, the
# repo's location (the install is editable) and the extra.
install_fingerprint() {
    local extra=$1
    {
        sha256sum pyproject.toml
        .venv/bin/python --version
        pwd -P
        echo "extra=${extra}"
    } | sha256sum | cut -d' ' -f1
}

# ensure_venv [EXTRA]: make .venv if missing and install the project editable (with
# EXTRA), skipping pip when nothing it depends on changed since the last good install.
ensure_venv() {
    local extra=${1:-}
    local spec=. stamp=.venv/.ezp2p-installed-${extra:-base} start=$SECONDS
    if [[ -n $extra ]]; then
        spec=".[${extra}]"
    fi

    if [[ ! -x .venv/bin/python ]]; then
        log "Creating .venv with $(python3 --version)"
        python3 -m venv .venv
        echo "venv created in $((SECONDS - start)) s"
    fi

    # Skip pip when a good install is recorded; one with the 'test' extra covers the plain one
    local candidates=("$extra") candidate file
    if [[ -z $extra ]]; then
        candidates+=(test)
    fi
    for candidate in "${candidates[@]}"; do
        file=.venv/.ezp2p-installed-${candidate:-base}
        if [[ -f $file && $(<"$file") == "$(install_fingerprint "$candidate")" ]] \
            && .venv/bin/python -c 'import napari_ezp2p' 2>/dev/null; then
            echo "Project already installed in .venv (${candidate:-base}); pyproject.toml unchanged"
            return 0
        fi
    done

    log "Installing the project editable: pip install -e '${spec}'"
    local pip_start=$SECONDS
    rm -f "$stamp"
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
        --quiet -e "$spec"
    install_fingerprint "$extra" >"$stamp"
    echo "pip install took $((SECONDS - pip_start)) s"
}
