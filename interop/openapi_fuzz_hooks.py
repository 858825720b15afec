"""schemathesis hooks for interop/openapi_fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

POST /api/v1/trigger-jobs with `"wait": true` holds the request until the job ends or
`waitTimeoutMs` (default 60 s, up to 300 s) runs out. A fuzzed job may rightly run for
minutes (`spreadMs` up to an hour, `ratePerSecond` down to 0.001, long trigger timeouts
with retries), so such a request would only run into the run's 20 s request timeout and
be reported as a failure (then shrunk, 20 s per try). The hook caps the wait the fuzzer
asks for at MAX_WAIT_MS. It only lowers a valid (or absent/null) `waitTimeoutMs`, so a
valid body stays valid and an invalid one stays invalid for the same reason.
"""

import schemathesis

MAX_WAIT_MS = 5_000
SERVER_MAX_WAIT_MS = 300_000


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.method.upper() != "POST" or case.operation.path != "/api/v1/trigger-jobs":
        return
    body = case.body
    if not isinstance(body, dict) or body.get("wait") is not True:
        return
    wait_ms = body.get("waitTimeoutMs")
    is_int = isinstance(wait_ms, int) and not isinstance(wait_ms, bool)
    if wait_ms is None or (is_int and MAX_WAIT_MS < wait_ms <= SERVER_MAX_WAIT_MS):
        body["waitTimeoutMs"] = MAX_WAIT_MS
