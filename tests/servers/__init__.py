"""Real HTTP servers on 127.0.0.1 standing in for mail providers, built from their docs."""
