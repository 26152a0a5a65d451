#!/usr/bin/env bash
# `make compose-down`: stop and remove the compose stack's containers (add --volumes to drop the data).
set -euo pipefail
cd "$(dirname "$0")/.."
source compose/lib.sh
[ -f "$ENV_FILE" ] || { say "no $ENV_FILE: nothing was started by compose/up.sh"; exit 0; }
set -a; source "$ENV_FILE"; set +a
compose --profile demo down --remove-orphans "$@"
