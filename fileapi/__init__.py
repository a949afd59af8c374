"""A faithful local implementation of the File Upload API (``ferry serve``)."""
