"""PySide6 desktop application: widgets only, business logic lives in app.core."""
