"""The servicedesk's tools on top of the journal and the security core: ``trace``, ``diagnose``, ``purge`` and the
dashboard's ``operator`` accounts (the dashboard itself is gateway/web/dashboard.py)."""
