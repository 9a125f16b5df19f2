"""Tests that open rendered email in a real headless Chromium."""
