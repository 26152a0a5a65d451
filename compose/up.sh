#!/usr/bin/env bash
# `make compose-up`: build the images (offline unless TOLLWAY_BASE=registry), write compose/.env with
# fresh secrets on first use, start the compose stack with the demo profile, seed the demo model,
# tenant and key, wait until every Envoy serves it, and print the URLs and an `openai` example.
# `make compose-down` stops it (volumes kept; `compose/down.sh --volumes` also drops Valkey's data).
set -euo pipefail
cd "$(dirname "$0")/.."
source compose/lib.sh

compose/build-images.sh
if [ ! -f "$ENV_FILE" ]; then
    say "writing $ENV_FILE (admin token and secret key; keep it private)"
    token=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')
    secret_key=$(.venv/bin/tollway credentials generate-key)
    [ -n "$token" ] && [ -n "$secret_key" ] || { echo "could not generate the secrets" >&2; exit 1; }
    (umask 077 && printf 'TOLLWAY_ADMIN_TOKEN=%s\nTOLLWAY_SECRET_KEY=%s\n' "$token" "$secret_key" >"$ENV_FILE")
fi
set -a; source "$ENV_FILE"; set +a

say "docker compose up (valkey, control-plane, ext-proc x${TOLLWAY_EXT_PROC_REPLICAS:-2}, envoy-1, envoy-2, mock-upstream)"
compose --profile demo up -d --remove-orphans
admin_url="http://127.0.0.1:${TOLLWAY_ADMIN_PORT:-8081}"
wait_for "the admin API" "$admin_url/healthz"
key=$(TOLLWAY_ADMIN_URL="$admin_url" TOLLWAY_ADMIN_TOKEN="$TOLLWAY_ADMIN_TOKEN" .venv/bin/tollway \
    demo-seed --upstream-url http://mock-upstream:8000/v1 --state-dir compose/.state)
listeners=$(listener_urls)
for url in $listeners; do
    wait_for_model "$url" "$key"
done
first=$(echo "$listeners" | head -1)
cat <<SUMMARY

Tollway (compose) is up.
  OpenAI base URLs : $(echo $listeners)
  admin API        : $admin_url  (docs: $admin_url/docs; token in $ENV_FILE)
  admin UI         : $admin_url/ui/  (a user: .venv/bin/tollway admin create-user NAME --role admin \\
                       --admin-url $admin_url --token "\$(sed -n 's/^TOLLWAY_ADMIN_TOKEN=//p' $ENV_FILE)")
  demo API key     : $key  (also in compose/.state/demo-key)
  logs             : $(compose_cmd) --env-file $ENV_FILE -f compose/compose.yaml logs -f

Try it (pip install openai):

from openai import OpenAI

client = OpenAI(base_url="$first", api_key="$key")
reply = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "Hello!"}])
print(reply.choices[0].message.content)

make compose-down stops it.
SUMMARY
