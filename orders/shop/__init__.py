"""The customer site: the catalogue, the cart, checkout, accounts and the order pages."""
