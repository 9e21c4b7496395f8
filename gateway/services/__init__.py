"""spyne services: thin adapters between verified SOAP bodies and the domain's rules."""
