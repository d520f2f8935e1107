"""HTTP twins of the fault knobs (stats, rate limit, faults), mounted under a prefix.

The prefix is `/_sandbox` for Cliniko, `/_sandbox/paypal` for PayPal.  The routes are
unauthenticated, never counted, limited or faulted (the guards only look at API paths).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from .faults import FaultInjector, RateLimiter, Stats, settings_dict


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _bad(message: str) -> Response:
    return JSONResponse({"message": message}, status_code=400)


def add_knob_routes(app: FastAPI, prefix: str, limiter: RateLimiter, faults: FaultInjector,
                    stats: Stats, default_limit: int | None = 200) -> None:
    """Add the knob routes under `prefix` to `app`.

    They are `GET {prefix}/stats`, `POST {prefix}/stats/reset`, `GET|PUT {prefix}/rate_limit`
    and `GET|PUT {prefix}/faults`; a PUT without `limit` sets `default_limit`.
    """

    @app.get(prefix + "/stats")
    async def get_stats() -> Response:
        return JSONResponse(stats.snapshot())

    @app.post(prefix + "/stats/reset")
    async def reset_stats() -> Response:
        stats.reset()
        return JSONResponse(stats.snapshot())

    @app.get(prefix + "/rate_limit")
    async def get_rate_limit() -> Response:
        return JSONResponse({"limit": limiter.limit, "window_seconds": limiter.window})

    @app.put(prefix + "/rate_limit")
    async def put_rate_limit(request: Request) -> Response:
        data = await _json_object(request)
        try:
            limit = data.get("limit", default_limit)
            limiter.configure(None if limit is None else int(limit),
                              float(data.get("window_seconds", 60)))
        except (TypeError, ValueError) as exc:
            return _bad(str(exc))
        return JSONResponse({"limit": limiter.limit, "window_seconds": limiter.window})

    @app.get(prefix + "/faults")
    async def get_faults() -> Response:
        return JSONResponse(settings_dict(faults))

    @app.put(prefix + "/faults")
    async def put_faults(request: Request) -> Response:
        try:
            faults.configure(**await _json_object(request))
        except (TypeError, ValueError) as exc:
            return _bad(str(exc))
        return JSONResponse(settings_dict(faults))
