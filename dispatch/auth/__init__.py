"""Authentication (passwords, signed access tokens, device tokens) and who may do what."""
