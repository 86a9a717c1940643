"""TrackAssist application: Qt-free core (``app.core``), CLI (``app.cli``) and GUI (``app.gui``)."""
