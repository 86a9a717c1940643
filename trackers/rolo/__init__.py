"""ROLO: detection features + LSTM (see trackers/rolo/tracker.py)."""
