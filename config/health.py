"""Health endpoints for container platforms and load balancers.

`/healthz` says the process answers (it touches nothing else, so a database outage does not get
healthy web containers restarted); `/readyz` says this process can serve requests now, which
needs the database: 503 while it is unreachable, so a load balancer sends traffic elsewhere.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

logger = logging.getLogger("health")


@csrf_exempt  # no form here: any other method is simply not allowed (405)
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        # Django's request_finished handler drops the broken connection; the next probe reconnects.
        logger.warning("readiness check failed: database unreachable (%s)", type(exc).__name__)
        response = JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"status": "ready", "database": "ok"})
