"""Forms of the customer site. They check what a customer typed and turn it into the inputs
of the services; the services decide everything else (prices, stock, payment, state)."""
