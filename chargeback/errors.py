class BillingError(Exception):
    """A domain rule refused the operation; the message says what to do about it."""
