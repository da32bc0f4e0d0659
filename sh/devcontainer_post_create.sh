#!/usr/bin/env bash
# Installs what era5-contours needs on top of an AWS Glue image, into the image user's
# site-packages (pip --user). Run by the Dev Container's postCreateCommand and, with
# --no-project, by start_dev_container.sh before each command.
#
# It never installs pyspark: the Glue image ships its own, wired to the Glue Data Catalog,
# and a PyPI copy would shadow it. The project goes in with --no-deps for that reason (its
# "local" extra pulls pyspark); its other needs come pinned from the requirements file.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: sh/devcontainer_post_create.sh [--python BIN] [--requirements FILE] [--no-project]

  --python BIN         interpreter to install for (default: $PYTHON or python3;
                       Glue 4.0 image: python3, Glue 5.0 image: python3.11)
  --requirements FILE  pinned extras, relative to the repository root
                       (default: requirements/glue4-dev.txt)
  --no-project         skip the editable install of the project itself (the caller puts
                       src/lib on PYTHONPATH instead)
  -h, --help           show this help
EOF
}

log() { printf '[post-create] %s\n' "$*" >&2; }
die() {
    printf '[post-create] error: %s\n' "$*" >&2
    exit 1
}

python_bin="${PYTHON:-python3}"
requirements="requirements/glue4-dev.txt"
install_project=1

while (($# > 0)); do
    case "$1" in
        --python)
            (($# >= 2)) || die "--python needs a value"
            python_bin="$2"
            shift 2
            ;;
        --requirements)
            (($# >= 2)) || die "--requirements needs a value"
            requirements="$2"
            shift 2
            ;;
        --no-project)
            install_project=0
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
    esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

[[ -f "$requirements" ]] || die "requirements file not found: $requirements"
command -v "$python_bin" >/dev/null 2>&1 || die "interpreter not found: $python_bin"

# The constraints file already makes pip refuse pyspark; this catches a direct requirement
# before pip even starts, with a message that says why.
if grep -Eiq '^[[:space:]]*pyspark([^A-Za-z0-9_.-]|$)' "$requirements"; then
    die "$requirements lists pyspark; the Glue image provides it, remove that line"
fi

pyspark_installed() { "$python_bin" -m pip show --quiet pyspark >/dev/null 2>&1; }
had_pyspark_dist=0
if pyspark_installed; then
    had_pyspark_dist=1
fi

log "python: $(command -v "$python_bin") ($("$python_bin" -c 'import sys; print(sys.version.split()[0])'))"
log "installing pinned extras from $requirements into the user site"
"$python_bin" -m pip install --user --disable-pip-version-check -r "$requirements"

if ((install_project)); then
    log "installing the project in editable mode without its dependencies"
    "$python_bin" -m pip install --user --disable-pip-version-check --no-deps --editable .
fi

if ((!had_pyspark_dist)) && pyspark_installed; then
    log "pip installed a pyspark distribution; removing it to keep the image's Spark"
    "$python_bin" -m pip uninstall --yes pyspark >&2
    die "a package in $requirements depends on pyspark; drop it or install it with --no-deps"
fi

# Which pyspark wins matters more than any version number: it must be the image's.
if ! "$python_bin" - <<'PY'; then
import pyspark
import xarray

print(f"[post-create] pyspark {pyspark.__version__} from {pyspark.__file__}")
print(f"[post-create] xarray {xarray.__version__}")
PY
    log "warning: pyspark or xarray does not import in this shell; open a login shell (bash -l)"
fi
log "done"
