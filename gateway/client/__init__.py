"""The client side: zeep clients built from the files in ``wsdl/``, with the WUS signature plug-in."""

from .wsse_plugin import WusSignature, client_for

__all__ = ["WusSignature", "client_for"]
