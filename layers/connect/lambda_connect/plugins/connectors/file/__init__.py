"""See the package docstring of lambda_connect."""
