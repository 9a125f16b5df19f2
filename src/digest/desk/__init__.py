"""The editor's desk: the tools around an issue file before it goes out.

``new``/``init`` start issues, ``add`` gathers articles from their pages, ``check`` is the
pre-send check, ``preview`` shows the issue live as readers will see it. The desk reads and
writes issue files and renders through :mod:`digest.render`; it never sends.
"""
