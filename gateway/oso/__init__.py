"""The chain's vocabulary and rules, sans-IO: identifiers, result codes, the register's entities, the session state
machine and the Traffic Center's rules. Nothing here imports spyne, zeep, SQLAlchemy or HTTP."""
