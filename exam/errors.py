"""Error responses: JSON with a stable code under /api, a translated page elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from exam.delivery.rules import DeliveryError
from exam.validation import ValidationFailed


def wants_json() -> bool:
    """API calls and fetch() requests get JSON errors; page loads get HTML."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, code: str, message: str, details: Any = None) -> Any:
    """One shape for every error: {"error": {"code", "message", "details"}}."""
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        if details is not None:
            body["details"] = details
        return jsonify(error=body), status
    return render_template("error.html", status=status, code=code, message=message, details=details), status


def register_error_handlers(app: Flask) -> None:
    """Install handlers for domain errors, CSRF failures and HTTP errors."""

    @app.errorhandler(DeliveryError)
    def _delivery(err: DeliveryError) -> Any:
        return error_response(err.status, err.code, err.message)

    @app.errorhandler(ValidationFailed)
    def _validation(err: ValidationFailed) -> Any:
        return error_response(422, "invalid", err.message, err.problems)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError) -> Any:
        return error_response(400, "csrf", _("Your session form token is missing or expired. Reload the page."))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Any:
        if request.path.startswith("/api/") and err.code == 422 and hasattr(err, "data"):
            # flask-smorest/webargs validation: name every field that failed.
            messages = err.data.get("messages") if isinstance(err.data, dict) else None
            return error_response(422, "invalid", _("The request has invalid fields."), messages)
        messages = {
            400: _("The request could not be understood."),
            403: _("You do not have permission to do that."),
            404: _("Not found, or you do not have access to it."),
            405: _("That method is not allowed here."),
            413: _("The upload is too large."),
            429: _("Too many attempts. Please wait a minute and try again."),
        }
        return error_response(
            err.code or 500, err.name.lower().replace(" ", "_"), messages.get(err.code or 0, err.name)
        )


def flash_problems(err: ValidationFailed) -> None:
    """Show a refused form's message and every problem (row, field, value) on the next page."""
    from flask import flash

    flash(err.message, "error")
    for problem in err.problems:
        where = _("row %(n)s", n=problem["row"]) + ", " if "row" in problem else ""
        value = f" ({problem['value']})" if "value" in problem else ""
        flash(f"{where}{problem['field']}: {problem['message']}{value}", "error")
