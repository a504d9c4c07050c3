"""(placeholder: the tus 1.0 server, issue 11)"""

from flask import Blueprint

bp = Blueprint("tus", __name__)
