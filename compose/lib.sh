# Shared by compose/up.sh and compose/down.sh (sourced, from the repository root).
ENV_FILE=compose/.env
PYTHON="${PYTHON:-.venv/bin/python}"

say() { printf '… %s\n' "$*" >&2; }

compose_cmd() {  # docker compose v2 when installed, else docker-compose (1.29 on Debian bookworm)
    if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo "docker-compose"; fi
}

compose() {
    $(compose_cmd) --env-file "$ENV_FILE" -f compose/compose.yaml "$@"
}

wait_for() {  # wait_for WHAT URL: until URL answers 2xx (120 s)
    say "waiting for $1"
    for _ in $(seq 240); do
        if "$PYTHON" -c "import sys, httpx; sys.exit(0 if httpx.get('$2', timeout=2).is_success else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.5
    done
    echo "$1 did not answer at $2; see: $(compose_cmd) -f compose/compose.yaml logs" >&2
    exit 1
}

listener_urls() {  # the OpenAI base URL of every Envoy replica, from its published port
    local service id port
    for service in $(compose config --services | grep '^envoy'); do
        id=$(compose ps -q "$service")
        [ -n "$id" ] || continue
        port=$(docker port "$id" 8080/tcp | head -1 | sed 's/.*://')
        echo "http://127.0.0.1:$port/v1"
    done
}

wait_for_model() {  # wait_for_model BASE_URL KEY: until the demo model answers through that Envoy
    say "waiting for the demo model at $1"
    for _ in $(seq 240); do
        if "$PYTHON" - "$1" "$2" <<'PY' 2>/dev/null
import sys, httpx
body = {"model": "demo", "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
r = httpx.post(f"{sys.argv[1]}/chat/completions", json=body, headers={"Authorization": f"Bearer {sys.argv[2]}"}, timeout=5)
sys.exit(0 if r.status_code == 200 else 1)
PY
        then
            return 0
        fi
        sleep 0.5
    done
    echo "the demo model is not served at $1" >&2
    exit 1
}
