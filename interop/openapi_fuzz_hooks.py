"""schemathesis hooks for interop/openapi_fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

POST /api/v1/trigger-jobs with `"wait": true` holds the request until the job ends or
`waitTimeoutMs` (default 60 s, up to 300 s) runs out. A fuzzed job may rightly run for
minutes (`spreadMs` up to an hour, `ratePerSecond` down to 0.001, long trigger timeouts
with retries), so such a request would only run into the run's 20 s request timeout and
be reported as a failure (then shrunk, 20 s per try). The hook caps the wait the fuzzer
asks for at MAX_WAIT_MS. It only lowers a valid (or absent/null) `waitTimeoutMs`, so a
valid body stays valid and an invalid one stays invalid for the same reason.

Schedules and freshness targets created by the fuzzer work in the background for the rest
of the run: hundreds of them firing every second (`everySeconds: 1`, `maxAgeSeconds: 1`)
keep the two simulated stations' outboxes full, so every later trigger the fuzzer sends
waits in line into the 20 s request timeout (a run once stalled for ten minutes that way).
The hook raises a valid interval below MIN_BACKGROUND_S to MIN_BACKGROUND_S, which is
longer than the run, with the same rule: valid stays valid, invalid stays invalid.

Webhook URLs: a fuzzed host name would make the server resolve it (at registration and
at delivery), which sends DNS queries off this machine, and a fuzzed public address would
receive deliveries. The hook points every http(s) URL of a webhook body at 127.0.0.1:9
(discard; nothing listens), keeping its scheme and path, so a valid URL stays valid and is
accepted (the server is started with --webhook-allow 127.0.0.0/8) and nothing leaves
loopback.

Calls: POST /api/v1/stations/{id}/calls (and /local-list, /reset, /change-availability,
/unlock-connector, /clear-cache) waits up to `timeoutMs` (up to 300 s) for the station; the
hook lowers a valid `timeoutMs` above MAX_WAIT_MS to MAX_WAIT_MS, by the same rule, so a
call queued behind others never runs into the request timeout; likewise ChangeAvailability's
`followMs` (up to 30 s).

Log requests: POST /api/v1/stations/{id}/logs waits up to `timeoutMs` (up to 600 s) for
the station's answer, and with `"wait": true` for the upload too (120 s when no timeoutMs
is given); the hook lowers a valid `timeoutMs` above MAX_WAIT_MS to MAX_WAIT_MS and gives a
waiting request without one MAX_WAIT_MS, by the same rule.

Configuration: POST /api/v1/stations/{id}/configuration/read, /api/v1/config/drift/check and
/api/v1/config/apply wait up to `timeoutMs` (default 30 s) per station CALL; the hook lowers
a valid `timeoutMs` above MAX_WAIT_MS, or an absent one, to MAX_WAIT_MS. An apply job makes at
least three CALLs per station (read, set, read again), `concurrency` stations at a time, so a
waited job over the run's stations can outlast the request timeout even then (a CI run saw one
read time out at 20 s): the hook makes every apply `"wait": false`, which answers 202 at once
with the running job (the waited form is tested in tests/station_config.rs).

Sessions: POST /api/v1/stations/{id}/sessions and /api/v1/sessions/{id}/stop wait up to
`timeoutMs` (default 60 s when absent) for the station to start or end the session; the
hook lowers a valid `timeoutMs` above MAX_WAIT_MS, or an absent one, to MAX_WAIT_MS.

Tokens: the run authenticates with one admin token, and `DELETE /api/v1/tokens/{id}`
with an id the fuzzer read from `GET /api/v1/tokens` revokes it, after which every
request is a 401 (each after the token cache's reload pause) and the run times out. The
hook points that DELETE at an id no token has, so it is still exercised (404) without
locking the run out.
"""

import urllib.parse

import schemathesis

MAX_WAIT_MS = 5_000
SERVER_MAX_WAIT_MS = 300_000
LOGS_MAX_WAIT_MS = 600_000
MIN_BACKGROUND_S = 600
# (method, path, field) of the background intervals the hook raises.
BACKGROUND = [
    ("POST", "/api/v1/schedules", "everySeconds"),
    ("PUT", "/api/v1/schedules/{id}", "everySeconds"),
    ("POST", "/api/v1/freshness", "maxAgeSeconds"),
]


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _loopback_url(value):
    """The same URL aimed at 127.0.0.1:9, or the value unchanged if it is no http(s) URL."""
    if not isinstance(value, str):
        return value
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return value
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return value
    return urllib.parse.urlunsplit(parts._replace(netloc="127.0.0.1:9"))


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    method, path, body = case.method.upper(), case.operation.path, case.body
    if method == "DELETE" and path == "/api/v1/tokens/{id}":
        params = case.path_parameters
        if isinstance(params, dict) and isinstance(params.get("id"), str):
            params["id"] = "not-the-fuzzers-token"
    if method == "POST" and path == "/api/v1/webhooks" and isinstance(body, dict):
        if "url" in body:
            body["url"] = _loopback_url(body["url"])
    for m, p, field in BACKGROUND:
        if (method, path) == (m, p) and isinstance(body, dict):
            value = body.get(field)
            if _is_int(value) and 1 <= value < MIN_BACKGROUND_S:
                body[field] = MIN_BACKGROUND_S
    waits = (
        "/api/v1/stations/{id}/calls",
        "/api/v1/stations/{id}/local-list",
        "/api/v1/stations/{id}/reset",
        "/api/v1/stations/{id}/change-availability",
        "/api/v1/stations/{id}/unlock-connector",
        "/api/v1/stations/{id}/clear-cache",
    )
    if method == "POST" and path in waits and isinstance(body, dict):
        timeout_ms = body.get("timeoutMs")
        if _is_int(timeout_ms) and MAX_WAIT_MS < timeout_ms <= SERVER_MAX_WAIT_MS:
            body["timeoutMs"] = MAX_WAIT_MS
        # ChangeAvailability then waits up to followMs (up to 30 s) for StatusNotifications.
        follow_ms = body.get("followMs")
        if _is_int(follow_ms) and MAX_WAIT_MS < follow_ms <= 30_000:
            body["followMs"] = MAX_WAIT_MS
    if method == "POST" and path == "/api/v1/stations/{id}/logs" and isinstance(body, dict):
        timeout_ms = body.get("timeoutMs")
        if _is_int(timeout_ms) and MAX_WAIT_MS < timeout_ms <= LOGS_MAX_WAIT_MS:
            body["timeoutMs"] = MAX_WAIT_MS
        elif timeout_ms is None and body.get("wait") is True:
            body["timeoutMs"] = MAX_WAIT_MS
    # Configuration reads, drift checks and apply jobs wait up to timeoutMs (default 30 s,
    # up to 300 s) per station CALL: a valid or absent one is lowered to MAX_WAIT_MS.
    config = (
        "/api/v1/stations/{id}/configuration/read",
        "/api/v1/config/drift/check",
        "/api/v1/config/apply",
    )
    if method == "POST" and path in config and isinstance(body, dict):
        timeout_ms = body.get("timeoutMs")
        if "timeoutMs" not in body or (
            _is_int(timeout_ms) and MAX_WAIT_MS < timeout_ms <= SERVER_MAX_WAIT_MS
        ):
            body["timeoutMs"] = MAX_WAIT_MS
    if method == "POST" and path == "/api/v1/config/apply" and isinstance(body, dict):
        # Only a valid (or absent) `wait` is replaced: a wrong-typed one is a negative case.
        if "wait" not in body or isinstance(body["wait"], bool):
            body["wait"] = False
    sessions = ("/api/v1/stations/{id}/sessions", "/api/v1/sessions/{id}/stop")
    if method == "POST" and path in sessions and isinstance(body, dict):
        timeout_ms = body.get("timeoutMs")
        if "timeoutMs" not in body or (
            _is_int(timeout_ms) and MAX_WAIT_MS < timeout_ms <= SERVER_MAX_WAIT_MS
        ):
            body["timeoutMs"] = MAX_WAIT_MS
    if method != "POST" or path != "/api/v1/trigger-jobs":
        return
    body = case.body
    if not isinstance(body, dict) or body.get("wait") is not True:
        return
    wait_ms = body.get("waitTimeoutMs")
    is_int = isinstance(wait_ms, int) and not isinstance(wait_ms, bool)
    if wait_ms is None or (is_int and MAX_WAIT_MS < wait_ms <= SERVER_MAX_WAIT_MS):
        body["waitTimeoutMs"] = MAX_WAIT_MS
