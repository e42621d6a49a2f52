"""The sale at the counter: products, customer, options, payment, booking, proof of cover."""
