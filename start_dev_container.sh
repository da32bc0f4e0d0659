#!/usr/bin/env bash
# Runs this repository inside the AWS Glue dev image with `docker run`: the equivalent of
# .devcontainer/ for people who do not use Dev Containers. See --help.
#
# Follows AWS's "Develop and test AWS Glue jobs locally using a Docker image": the image's
# entrypoint is a login bash, so commands go in as `-c '...'`; the repository is mounted at
# the image user's workspace and ~/.aws read-only next to it.
#
# On Linux hosts the image's own user (glue_user; hadoop on 5.0), whose uid is rarely yours,
# writes into the mounted repository (spark-warehouse/, output/): give that uid write access,
# for example with an ACL, or use the Dev Container, which maps the image user to your uid.
set -euo pipefail
# Written for bash 3.2 too (macOS): empty arrays expand as ${a[@]+"${a[@]}"} under set -u.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
PROG="${0##*/}"
readonly REPO_ROOT PROG

usage() {
    cat <<EOF
Usage: $PROG [OPTIONS] MODE [ARGS...]

Run the AWS Glue dev image with this repository mounted (docker run --rm).

Modes:
  shell                 interactive bash in the container
  pytest [ARGS...]      python -m pytest ARGS in the repository (tests/ by default)
  pyspark               the PySpark REPL (Spark UI on port 4040)
  jupyter               JupyterLab through the image's jupyter_start.sh (port 8888;
                        Glue 4.0 only: the 5.0 image has no JupyterLab)
  submit SCRIPT [ARGS]  spark-submit SCRIPT ARGS; SCRIPT is a file inside the repository

Options:
  --dry-run      print the docker command instead of running it
  --no-install   skip installing the pinned extras (requirements/glueN-dev.txt) first
  -h, --help     show this help

Settings come from the environment, then from .env in the repository root (see
.env.example); the environment wins:
  GLUE_VERSION         4 (default) or 5; guessed from GLUE_IMAGE when that is set
  GLUE_IMAGE           image to run (default: AWS's public ECR image for GLUE_VERSION)
  AWS_PROFILE          profile from ~/.aws to use in the container
  AWS_CONFIG_DIR       host directory mounted read-only as the container's ~/.aws
                       (default: \$HOME/.aws; skipped when missing)
  GLUE_CONTAINER_NAME  container name (default: era5-contours-glue<version>-<mode>)
  GLUE_BIND_ADDRESS    host address for published ports (default: 127.0.0.1)
  SPARK_UI_PORT, SPARK_HISTORY_PORT, JUPYTER_PORT
                       host ports for 4040, 18080 and 8888
  DOCKER               container CLI to call (default: docker)
Passed into the container when set (by name, values stay off the command line):
every ERA5_* variable, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL[_*] and the
AWS credentials variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).

Examples:
  $PROG pytest -m "not integration" -x
  $PROG submit src/jobs/JOB.py --JOB_NAME local
  $PROG --dry-run jupyter
EOF
}

warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 2
}

# Reads KEY=VALUE lines from a dotenv file without executing it: comments, blank lines,
# an optional "export ", single or double quotes around the value. Variables already in
# the environment are left alone.
load_dotenv() {
    local file="$1" line key value n=0
    local re_assign='^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$'
    local re_double='^"(.*)"[[:space:]]*(#.*)?$'
    local re_single="^'(.*)'[[:space:]]*(#.*)?$"
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        line="${line%$'\r'}"
        [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
        if [[ ! "$line" =~ $re_assign ]]; then
            warn "$file:$n: not KEY=VALUE, ignored"
            continue
        fi
        key="${BASH_REMATCH[2]}"
        value="${BASH_REMATCH[3]}"
        if [[ "$value" =~ $re_double || "$value" =~ $re_single ]]; then
            value="${BASH_REMATCH[1]}"
        else
            value="${value%%[[:space:]]#*}"
            value="${value%"${value##*[![:space:]]}"}"
        fi
        if [[ -z "${!key+set}" ]]; then
            export "$key=$value"
        fi
    done <"$file"
}

# Prints a word so that a POSIX shell (and Python's shlex) reads it back unchanged.
quote() {
    local word="$1" sq="'" escaped="'\\''"
    if [[ -n "$word" && "$word" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
        printf '%s' "$word"
    else
        printf "'%s'" "${word//$sq/$escaped}"
    fi
}

dry_run=0
install=1
while (($# > 0)); do
    case "$1" in
        --dry-run)
            dry_run=1
            shift
            ;;
        --no-install)
            install=0
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        --)
            shift
            break
            ;;
        -*)
            usage >&2
            die "unknown option: $1"
            ;;
        *) break ;;
    esac
done
(($# > 0)) || {
    usage >&2
    die "missing MODE"
}
mode="$1"
shift

if [[ -f "$REPO_ROOT/.env" ]]; then
    load_dotenv "$REPO_ROOT/.env"
fi

# --- which image, which layout ------------------------------------------------------------
image_version() {
    case "$1" in
        *:5 | *:5.* | *glue_libs_5*) echo 5 ;;
        *:4 | *:4.* | *glue_libs_4*) echo 4 ;;
        *) echo unknown ;;
    esac
}
if [[ -z "${GLUE_VERSION:-}" ]]; then
    GLUE_VERSION="$(image_version "${GLUE_IMAGE:-}")"
    [[ "$GLUE_VERSION" != unknown ]] || GLUE_VERSION=4
fi
case "$GLUE_VERSION" in
    4 | 4.0)
        glue=4
        image="${GLUE_IMAGE:-public.ecr.aws/glue/aws-glue-libs:glue_libs_4.0.0_image_01}"
        user_home=/home/glue_user
        python_bin=python3
        ;;
    5 | 5.0)
        glue=5
        image="${GLUE_IMAGE:-public.ecr.aws/glue/aws-glue-libs:5}"
        # Glue 5.0 renamed the image user and moved Spark to /usr/lib/spark.
        user_home=/home/hadoop
        python_bin=python3.11
        ;;
    *) die "GLUE_VERSION must be 4 or 5, not '$GLUE_VERSION'" ;;
esac
tagged="$(image_version "$image")"
if [[ "$tagged" != unknown && "$tagged" != "$glue" ]]; then
    warn "GLUE_VERSION=$GLUE_VERSION but $image looks like Glue $tagged; paths and user follow GLUE_VERSION"
fi

workspace="$user_home/workspace"
publish=()
case "$mode" in
    shell) publish=(4040 18080) ;;
    pytest) ;;
    pyspark | submit) publish=(4040 18080) ;;
    jupyter)
        ((glue == 4)) || die "jupyter mode needs the Glue 4.0 image: AWS removed JupyterLab and Livy from 5.0"
        publish=(8888 4040 18080)
        # jupyter_start.sh serves /home/glue_user/workspace/jupyter_workspace/, so the
        # repository goes there (as in AWS's guide) rather than one level up.
        workspace="$user_home/workspace/jupyter_workspace"
        ;;
    *)
        usage >&2
        die "unknown MODE: $mode"
        ;;
esac

# --- the command run by the image's login bash ----------------------------------------------
setup=("export PYTHONPATH=\"\${PYTHONPATH:+\$PYTHONPATH:}$workspace/src/lib\"")
if ((install)); then
    setup+=("bash sh/devcontainer_post_create.sh --no-project --python $python_bin --requirements requirements/glue$glue-dev.txt")
fi
if ((glue == 5)) && [[ "$mode" != pytest ]]; then
    # The 5.0 image does not start the history server by itself (AWS's guide, appendix E).
    setup+=("{ /usr/lib/spark/sbin/start-history-server.sh >/dev/null || echo \"warning: Spark history server did not start\" >&2; }")
fi

args=()
case "$mode" in
    shell | jupyter) (($# == 0)) || die "$mode takes no arguments" ;;
esac
case "$mode" in
    shell) run='exec bash' ;;
    pytest)
        run="exec $python_bin -m pytest \"\$@\""
        args=("$@")
        ;;
    pyspark)
        run='exec pyspark "$@"'
        args=("$@")
        ;;
    jupyter) run="exec $user_home/jupyter/jupyter_start.sh" ;;
    submit)
        (($# > 0)) || die "submit needs a SCRIPT"
        script="$1"
        shift
        [[ -f "$script" ]] || die "no such file: $script"
        script_abs="$(cd "$(dirname "$script")" && pwd -P)/$(basename "$script")"
        [[ "$script_abs" == "$REPO_ROOT"/* ]] || die "SCRIPT must be inside the repository: $script"
        run='exec spark-submit "$@"'
        args=("$workspace/${script_abs#"$REPO_ROOT"/}" "$@")
        ;;
esac
inner=""
for step in "${setup[@]}"; do
    inner+="$step && "
done
inner+="$run"

# --- docker run ---------------------------------------------------------------------------
if [[ -t 0 && -t 1 ]]; then
    tty=(-it)
else
    tty=(-i)
fi
cmd=("${DOCKER:-docker}" run --rm "${tty[@]}" --init
    --name "${GLUE_CONTAINER_NAME:-era5-contours-glue$glue-$mode}"
    --workdir "$workspace"
    -v "$REPO_ROOT:$workspace/")

aws_dir="${AWS_CONFIG_DIR:-${HOME:-}/.aws}"
if [[ -d "$aws_dir" ]]; then
    cmd+=(-v "$aws_dir:$user_home/.aws:ro")
else
    warn "$aws_dir not found: no AWS profiles in the container"
fi
if [[ -n "${AWS_PROFILE:-}" ]]; then
    cmd+=(-e "AWS_PROFILE=$AWS_PROFILE")
fi
if ((glue == 4)); then
    # Glue 4.0 loads Iceberg only when asked; jupyter_start.sh serves plain HTTP with this.
    cmd+=(-e DISABLE_SSL=true -e DATALAKE_FORMATS=iceberg)
fi
# Names only: docker copies the values, so secrets stay out of the command line. The job
# reads each of its options from ERA5_<OPTION>, so every ERA5_ variable goes in.
while IFS= read -r name; do
    case "$name" in
        AWS_REGION | AWS_DEFAULT_REGION | AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY | \
            AWS_SESSION_TOKEN | AWS_ENDPOINT_URL | AWS_ENDPOINT_URL_* | ERA5_*)
            if [[ -n "${!name:-}" ]]; then
                cmd+=(-e "$name")
            fi
            ;;
    esac
done < <(compgen -e | LC_ALL=C sort)

bind="${GLUE_BIND_ADDRESS:-127.0.0.1}"
for port in ${publish[@]+"${publish[@]}"}; do
    case "$port" in
        4040) host_port="${SPARK_UI_PORT:-4040}" ;;
        18080) host_port="${SPARK_HISTORY_PORT:-18080}" ;;
        8888) host_port="${JUPYTER_PORT:-8888}" ;;
    esac
    cmd+=(-p "$bind:$host_port:$port")
done

cmd+=("$image" -c "$inner" "$mode" ${args[@]+"${args[@]}"})

if ((dry_run)); then
    line=""
    for word in "${cmd[@]}"; do
        line+="$(quote "$word") "
    done
    printf '%s\n' "${line% }"
    exit 0
fi

command -v "${DOCKER:-docker}" >/dev/null 2>&1 || die "${DOCKER:-docker} not found; install Docker or use --dry-run"
printf '%s: %s in %s (repository at %s)\n' "$PROG" "$mode" "$image" "$workspace" >&2
for port in ${publish[@]+"${publish[@]}"}; do
    case "$port" in
        4040) printf '  Spark UI:            http://localhost:%s\n' "${SPARK_UI_PORT:-4040}" >&2 ;;
        18080) printf '  Spark history server: http://localhost:%s\n' "${SPARK_HISTORY_PORT:-18080}" >&2 ;;
        8888) printf '  JupyterLab:          http://localhost:%s/lab\n' "${JUPYTER_PORT:-8888}" >&2 ;;
    esac
done
exec "${cmd[@]}"
