"""(placeholder: personal API tokens, issue 11)"""

from flask import Blueprint

bp = Blueprint("tokens", __name__)
