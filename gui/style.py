"""The host's dark theme (Qt style sheet)."""

STYLE = """
QMainWindow, QWidget#timelineContent, QScrollArea { background: #1e2126; }
QWidget { color: #d7dbe1; }
QMenuBar { background: #181b20; }
QMenuBar::item:selected, QMenu::item:selected { background: #3a4452; }
QMenu { background: #23272e; border: 1px solid #3a3f48; }
QToolBar { background: #181b20; border: none; spacing: 4px; padding: 2px 6px; }
QToolBar::separator { background: #2e343d; width: 1px; margin: 4px 6px; }
QToolBar QToolButton { padding: 3px 10px; border-radius: 4px; }
QToolBar QToolButton:hover { background: #2e343d; }
QStatusBar { background: #181b20; color: #a9b0ba; }
QLabel#modelLabel { padding: 0 8px; color: #9fd3a8; }
QLabel#modelLabel[error="true"] { color: #ff8a80; }
QLabel#playLabel { padding: 0 8px; color: #e2c04f; }
QFrame#queryPanel { background: #23272e; border-bottom: 1px solid #111; }
QLabel#extractLabel { font-weight: bold; padding-right: 4px; }
QLineEdit { background: #14171b; border: 1px solid #3a3f48; border-radius: 4px; padding: 5px 8px;
            selection-background-color: #3d6fa8; }
QLineEdit:focus { border-color: #4f9dde; }
QLineEdit#queryEdit { font-size: 14px; }
QPushButton { background: #2f3640; border: 1px solid #444c57; border-radius: 4px; padding: 5px 14px; }
QPushButton:hover { background: #3a4350; }
QPushButton:disabled { color: #6c737d; background: #262a30; }
QPushButton#separateButton { background: #2f6db0; border-color: #3d82cc; font-weight: bold; }
QPushButton#separateButton:disabled { background: #2a3340; border-color: #35404e; color: #7f8a97; }
QLabel#sourceLabel { color: #8e96a1; font-size: 11px; }
QFrame#scopeChip { background: #8a531a; border: 1px solid #e0923a; border-radius: 4px; }
QLabel#scopeText { color: #fff1dc; font-weight: bold; }
QToolButton#scopeClear { background: #a8662a; border-color: #e0923a; color: #fff1dc; }
QPushButton#splitButton { background: #3b4a36; border-color: #5a7350; }
QLabel#fxTrack { font-size: 14px; font-weight: bold; padding-bottom: 4px; }
QLabel#queryHint { color: #f0c674; font-size: 12px; }
QLabel#sourceLabel[error="true"] { color: #ff8a80; }
QLabel#banner { background: #4a2a2a; color: #ffd2cc; border: 1px solid #7a3b3b; border-radius: 4px; padding: 6px; }
QLabel#banner[error="false"] { background: #2f3a2a; color: #d8f0c8; border-color: #4d6b3b; }
QFrame#taskPanel { background: #1b2a3a; border-bottom: 1px solid #111; }
QProgressBar { background: #14171b; border: 1px solid #3a3f48; border-radius: 3px; text-align: center; height: 14px; }
QProgressBar::chunk { background: #3d82cc; border-radius: 2px; }
QFrame#trackHeader { background: #2a2f37; border-right: 1px solid #14171b; border-bottom: 1px solid #14171b; }
QFrame#trackHeader[current="true"] { background: #34404f; }
QLabel#trackName { font-weight: bold; }
QLabel#trackInfo { color: #8e96a1; font-size: 10px; }
QLabel#gainLabel { color: #a9b0ba; font-size: 10px; }
QLabel#timeLabel { font-family: monospace; color: #e8ecf1; }
QLabel#placeholder { color: #6f7782; font-size: 15px; }
QToolButton { background: #343b45; border: 1px solid #454e5a; border-radius: 3px; padding: 1px 4px; }
QToolButton:hover { background: #404956; }
QToolButton#soloButton:checked { background: #d8b232; color: #1b1b1b; border-color: #f0cc4a; }
QToolButton#muteButton:checked { background: #c8553d; color: #fff; border-color: #e06a50; }
QToolButton#fxButton[active="true"] { background: #2f6db0; color: #fff; border-color: #3d82cc; }
QSlider::groove:horizontal { height: 4px; background: #14171b; border-radius: 2px; }
QSlider::sub-page:horizontal { background: #4f7fb0; border-radius: 2px; }
QSlider::handle:horizontal { background: #d7dbe1; width: 10px; margin: -5px 0; border-radius: 5px; }
QScrollBar:horizontal { background: #181b20; height: 12px; }
QScrollBar:vertical { background: #181b20; width: 12px; }
QScrollBar::handle { background: #3a414b; border-radius: 5px; min-width: 20px; min-height: 20px; }
QScrollBar::add-line, QScrollBar::sub-line { width: 0; height: 0; }
QCheckBox { spacing: 6px; }
QDialog { background: #23272e; }
QListWidget { background: #14171b; border: 1px solid #3a3f48; }
QDoubleSpinBox, QComboBox { background: #14171b; border: 1px solid #3a3f48; border-radius: 3px; padding: 2px 6px; }
"""
