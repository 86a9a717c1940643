"""Every command of the window as a QAction with its shortcuts, in one table.

The table is the single source for the menus, the toolbar and the shortcuts
help; each entry names the window method it calls.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    keys: tuple[str, ...]
    slot: str                  # method name on the main window
    tip: str = ""
    checkable: bool = False
    short: str = ""            # toolbar text when the menu text is long


# fmt: off
ACTIONS: list[ActionSpec] = [
    # File
    ActionSpec("open", "&Open video or project…", ("Ctrl+O",), "open_dialog", "open a video file or a .taproj project", short="Open"),
    ActionSpec("open_folder", "Open image &folder…", ("Ctrl+Shift+O",), "open_folder_dialog", "a folder of images, one per frame"),
    ActionSpec("save", "&Save", ("Ctrl+S",), "save", "every edit is already saved; this confirms and compacts the journal"),
    ActionSpec("import", "&Import annotations…", ("Ctrl+I",), "import_dialog", "COCO, GOT-10k or YouTube-VIS"),
    ActionSpec("export", "&Export annotations…", ("Ctrl+E",), "export_dialog", "COCO, GOT-10k or YouTube-VIS"),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "close"),
    # Edit
    ActionSpec("undo", "&Undo", ("Ctrl+Z",), "undo"),
    ActionSpec("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "redo"),
    ActionSpec("keyframe", "Make &keyframe", ("K",), "make_keyframe", "accept the tracker's result on this frame as a human keyframe", short="Keyframe"),
    ActionSpec("absent", "Toggle &absent", ("O",), "toggle_absent", "the object is out of view or fully occluded on this frame", short="Absent"),
    ActionSpec("delete_frame", "&Delete annotation on this frame", ("Del",), "delete_frame", "only this frame; the rest of the track stays"),
    ActionSpec("box_to_mask", "Box → &mask (GrabCut)", ("G",), "box_to_mask", "segment the object inside its box", short="Box→mask"),
    # Tools
    ActionSpec("tool_box", "&Box", ("B",), "tool_box", "drag to draw a box; drag handles to edit", True),
    ActionSpec("tool_brush", "B&rush", ("M",), "tool_brush", "paint the mask", True),
    ActionSpec("tool_eraser", "&Eraser", ("E",), "tool_eraser", "erase from the mask", True),
    ActionSpec("tool_polygon", "&Polygon", ("P",), "tool_polygon", "click points; double-click/right-click/Enter closes; Shift cuts", True),
    ActionSpec("brush_smaller", "Smaller brush", ("[",), "brush_smaller"),
    ActionSpec("brush_bigger", "Bigger brush", ("]",), "brush_bigger"),
    # Objects
    ActionSpec("new_object", "&New object", ("N",), "new_object", short="+ Object"),
    ActionSpec("delete_object", "Delete &object (all frames)", ("Shift+Del",), "delete_object"),
    ActionSpec("next_object", "Next object", ("Ctrl+Tab",), "next_object"),
    # Tracking
    ActionSpec("track_one", "&Track one frame", ("F",), "track_one", "track the current object to the next frame", short="Track 1"),
    ActionSpec("track_one_back", "Track one frame &backward", ("Shift+B",), "track_one_back"),
    ActionSpec("propagate", "&Propagate forward", ("Shift+F",), "propagate_forward", "to the next keyframe (or the end)", short="Propagate ▶"),
    ActionSpec("propagate_back", "Propagate back&ward", ("Ctrl+Shift+F",), "propagate_backward", "to the previous keyframe (or the start)", short="◀ Propagate"),
    ActionSpec("propagate_between", "Propagate between &keyframes", ("Shift+I",), "propagate_between", "forward and backward between the keyframes around this frame, blended", short="◀ Between ▶"),
    ActionSpec("cancel", "&Cancel propagation", ("Esc",), "cancel", short="Cancel"),
    # Navigate
    ActionSpec("prev_frame", "Previous frame", ("A", "Left"), "prev_frame"),
    ActionSpec("next_frame", "Next frame", ("D", "Right"), "next_frame"),
    ActionSpec("back_10", "Back 10 frames", ("Shift+A", "Shift+Left"), "back_10"),
    ActionSpec("forward_10", "Forward 10 frames", ("Shift+D", "Shift+Right"), "forward_10"),
    ActionSpec("first_frame", "First frame", ("Home",), "first_frame"),
    ActionSpec("last_frame", "Last frame", ("End",), "last_frame"),
    ActionSpec("prev_keyframe", "Previous keyframe", ("Ctrl+Left",), "prev_keyframe"),
    ActionSpec("next_keyframe", "Next keyframe", ("Ctrl+Right",), "next_keyframe"),
    ActionSpec("next_low_score", "Next low-score frame", ("L",), "next_low_score", "the next frame to review"),
    ActionSpec("play", "&Play / pause", ("Space",), "toggle_play", short="Play"),
    # View
    ActionSpec("fit", "&Fit frame", ("0", "Ctrl+0"), "fit"),
    ActionSpec("map_overlay", "Map &overlay", ("H",), "toggle_map", "the tracker's chosen map over the frame"),
    ActionSpec("build_proxy", "Build display &proxy", (), "build_proxy", "write VIDEO.taproxy in the background: instant previews when scrubbing a long video"),
    ActionSpec("cancel_proxy_build", "Cancel display proxy build", (), "cancel_proxy_build", "stop building the display proxy; no file is left"),
    # Help
    ActionSpec("shortcuts", "&Keyboard shortcuts", ("?", "F1"), "show_shortcuts"),
]
# fmt: on

MENUS: list[tuple[str, list[str | None]]] = [
    ("&File", ["open", "open_folder", "@recent", None, "save", None, "import", "export", None, "quit"]),
    ("&Edit", ["undo", "redo", None, "keyframe", "absent", "delete_frame", "box_to_mask"]),
    ("&Tools", ["tool_box", "tool_brush", "tool_eraser", "tool_polygon", None, "brush_smaller", "brush_bigger"]),
    ("&Object", ["new_object", "delete_object", "next_object"]),
    ("T&rack", ["track_one", "track_one_back", "propagate", "propagate_back", "propagate_between", None, "cancel"]),
    ("&Navigate", ["prev_frame", "next_frame", "back_10", "forward_10", "first_frame", "last_frame", None,
                   "prev_keyframe", "next_keyframe", "next_low_score", None, "play"]),
    ("&View", ["fit", "map_overlay", None, "build_proxy", "cancel_proxy_build", "@docks"]),
    ("&Help", ["shortcuts"]),
]

TOOLBAR = ["open", "save", None, "undo", "redo", None, "tool_box", "tool_brush", "tool_eraser", "tool_polygon",
           "box_to_mask", None, "new_object", "keyframe", "absent", None, "play", "track_one", "propagate",
           "propagate_back", "propagate_between", "cancel", None, "fit"]


def build_actions(window) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window)
        action.setShortcuts([QKeySequence(k) for k in spec.keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        tip = spec.tip or spec.text.replace("&", "")
        if spec.keys:
            tip += f"  ({', '.join(spec.keys)})"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setCheckable(spec.checkable)
        if spec.short:
            action.setIconText(spec.short)
        slot = getattr(window, spec.slot)
        action.triggered.connect(lambda _checked=False, s=slot: s())
        window.addAction(action)      # shortcuts work even when the menu bar is hidden
        actions[spec.name] = action
    return actions
