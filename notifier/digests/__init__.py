"""Storm control: notifications held in the state store's digest buffer and sent as one message per
destination and window. `policy` reads the route keys, `hold` decides and holds, `message` writes the
digest, `flush` sends the due ones."""
