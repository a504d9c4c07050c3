"""(placeholder: filled in by issue 11's work on this subject)"""

from flask import Blueprint

bp = Blueprint("jobs", __name__)
