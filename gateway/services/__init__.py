"""The spyne services of the gateway. spyne 2.14 needs a small shim on Python 3.12+ before it is first imported."""

from .spyne_compat import install as _install_spyne_compat

_install_spyne_compat()
