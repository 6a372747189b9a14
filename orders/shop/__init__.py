"""The customer site: the catalogue, the cart, checkout, accounts and the order pages.

Views only translate HTTP: they read through the selectors, write through the services, and
turn a service's refusal into a message on the page.
"""
