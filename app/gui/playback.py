"""Play/pause at the video's frame rate, and a plain scrubber used when no timeline is available."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget


class Player(QObject):
    """Advances ``state`` one frame per tick; the frame loader drops frames it cannot keep up with."""

    playingChanged = Signal(bool)

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        state.projectOpened.connect(self.pause)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def play(self) -> None:
        video = self.state.video
        if video is None:
            return
        if self.state.current_frame >= len(video) - 1:
            self.state.set_frame(0)          # play again from the start
        fps = video.fps if video.fps and video.fps > 0 else 25.0
        self.timer.start(max(1, int(round(1000.0 / min(fps, 120.0)))))
        self.playingChanged.emit(True)

    def pause(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.playingChanged.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def _tick(self) -> None:
        video = self.state.video
        if video is None or self.state.current_frame >= len(video) - 1:
            self.pause()
            return
        self.state.set_frame(self.state.current_frame + 1)


class SimpleScrubber(QWidget):
    """Slider + frame label: the fallback when the timeline widget is not installed."""

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.label = QLabel("")
        row = QHBoxLayout(self)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self.slider.valueChanged.connect(state.set_frame)
        state.projectOpened.connect(self._reload)
        state.frameChanged.connect(self._show)
        self._reload()

    def _reload(self) -> None:
        n = len(self.state.video) if self.state.video is not None else 1
        self.slider.setRange(0, max(0, n - 1))
        self._show(self.state.current_frame)

    def _show(self, index: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        n = len(self.state.video) if self.state.video is not None else 0
        self.label.setText(f"{index + 1} / {n}")
