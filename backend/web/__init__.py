"""Public web pages served by the app: passport pages (QR target), QR images, /verify.

Server-rendered Jinja2 (autoescaped), Korean and English, no external assets. Every
restricted read goes through `backend.access.battery` and is audited. See docs/WEB.md.
"""

from backend.web import share as _share  # noqa: F401 - registers /share/<token>
from backend.web.routes import router

__all__ = ["router"]
