"""The one error type the provisioning command reports to its user."""


class ProvisioningError(Exception):
    """A step failed; the message says which and why, in words an operator can act on."""
