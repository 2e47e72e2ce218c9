"""Application factory: configuration, extensions, blueprints, CLI groups."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, g, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from exam import i18n
from exam.config import INSTANCE_DIR, Config
from exam.db import db
from exam.extensions import api, babel, csrf, limiter, login_manager, migrate
from exam.jobs import init_celery
from exam.nav import extra_nav_links

# "module:attribute" of every page blueprint; each domain adds its own line.
BLUEPRINTS = [
    "exam.auth.views:bp",
    "exam.admin.views:bp",
    "exam.delivery.views:bp",
    "exam.authoring.views:bp",
    "itembank.views:bp",
    "itembank.assembly_views:bp",
    "itembank.calibration_views:bp",
    "grading.views:bp",
    "grading.report_views:bp",
    "proctor.views:bp",
]
# flask-smorest blueprints mounted under /api/v1 (they appear in the OpenAPI document).
API_BLUEPRINTS = [
    "exam.api:blp",
    "exam.delivery.api:blp",
    "exam.authoring.api:blp",
    "itembank.api:blp",
    "proctor.api:blp",
]
# Click groups and commands of `exam ...`; file-mode commands work without a database.
COMMANDS = [
    "exam.cli:demo_command",
    "exam.cli:run_command",
    "exam.cli:users_group",
    "exam.cli:sittings_group",
    "itembank.cli:items",
    "itembank.irt_cli:irt",
    "itembank.assembly_cli:assemble",
    "proctor.cli:proctor",
    "grading.cli:grade",
    "grading.cli:report",
]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    # No inline scripts anywhere: every script is a static file, so XSS in an item stem cannot run.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


def _resolve(spec: str) -> Any:
    module_name, attr = spec.split(":")
    return getattr(importlib.import_module(module_name), attr)


def create_app(config: object | None = None) -> Flask:
    """Build the application. `config` defaults to Config() read from the environment."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=True)
    app.config.from_object(config or Config())
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(str(d) for d in i18n.TRANSLATION_DIRS)
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    i18n.compile_catalogs()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(i18n.ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    init_celery(app)
    _import_models()

    from exam.auth.views import load_user

    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.unauthorized_handler(_unauthorized)

    for spec in BLUEPRINTS:
        app.register_blueprint(_resolve(spec))
    api.init_app(app)
    for spec in API_BLUEPRINTS:
        api.register_blueprint(_resolve(spec))
    for spec in COMMANDS:
        app.cli.add_command(_resolve(spec))

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"csrf_token": generate_csrf, "current_locale": str(get_locale()), "extra_nav_links": extra_nav_links}

    @app.after_request
    def _security_headers(response: Any) -> Any:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/") or getattr(g, "no_store", False):
            response.headers["Cache-Control"] = "no-store"
        return response

    from exam.errors import register_error_handlers

    register_error_handlers(app)
    return app


def _import_models() -> None:
    """Import every models module so metadata (and Alembic autogenerate) sees all tables."""
    for module in MODEL_MODULES:
        importlib.import_module(module)


def _unauthorized() -> Any:
    """API callers get a 401 in the error shape; page loads go to the sign-in form and come back."""
    from flask import redirect, url_for

    from exam.errors import error_response, wants_json

    if wants_json():
        return error_response(401, "unauthorized", _("Sign in first."))
    return redirect(url_for("auth.login", next=request.full_path))


MODEL_MODULES = [
    "exam.auth.models",
    "itembank.models",
    "itembank.calibration_models",
    "exam.delivery.models",
    "exam.jobs",
    "exam.tasks",
    "itembank.tasks",
    "proctor.tasks",
    "grading.tasks",
    "grading.models",
    "proctor.models",
]
