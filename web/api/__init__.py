"""(placeholder: /api/v1, issue 11)"""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
