"""The WSGI side: the security middleware, the static contracts, health, and the composition of the services."""
